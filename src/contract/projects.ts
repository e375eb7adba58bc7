import { Type, type Static } from 'typebox'

/**
 * The project of keys in API_KEYS and of open mode (no keys configured). Its data is the store's root, laid out as
 * before projects existed, so an existing DATA_DIR or bucket needs no migration; other projects live under
 * `projects/<id>/`.
 */
export const DEFAULT_PROJECT_ID = 'default'

/** Scopes a key may carry: `admin` manages projects and keys (API_KEYS only), the others act inside one project. */
export type Scope = 'train' | 'predict' | 'admin'
/** What a key created through the API may hold: admin stays with the operator's API_KEYS. */
export type ProjectKeyScope = Exclude<Scope, 'admin'>

/** Project ids are ours (UUIDs) or `default`; the pattern keeps them safe as a path segment. */
export const ProjectIdSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' })
/** Key ids are the first 16 hex digits of the key's SHA-256, as in log lines (`key:<id>`). */
export const KeyIdSchema = Type.String({ pattern: '^[0-9a-f]{16}$' })

/** One project's limits after its override is applied. `storedBytes` 0 means no limit. */
export const QuotaSchema = Type.Object({
  queuedJobs: Type.Integer({ minimum: 1, description: 'Training jobs queued or running at once (429 TOO_MANY_QUEUED_JOBS).' }),
  storedBytes: Type.Integer({ minimum: 0, description: 'Bytes the project may hold in the store, 0 for no limit (507 STORAGE_QUOTA_EXCEEDED).' }),
  predictPerMin: Type.Integer({ minimum: 1, description: 'Predictions per minute across replicas (429 RATE_LIMITED).' }),
  uploadsPerMin: Type.Integer({ minimum: 1, description: 'Dataset uploads per minute across replicas (429 RATE_LIMITED).' }),
})
export type Quota = Static<typeof QuotaSchema>

/** Limits set for one project; an absent field takes the config's default. */
export const QuotaOverrideSchema = Type.Partial(QuotaSchema, { additionalProperties: false })
export type QuotaOverride = Static<typeof QuotaOverrideSchema>

export const ProjectSchema = Type.Object({
  id: ProjectIdSchema,
  name: Type.String(),
  /** ISO 8601. */
  createdAt: Type.String(),
  quota: QuotaSchema,
  quotaOverride: QuotaOverrideSchema,
})
export type Project = Static<typeof ProjectSchema>

/** A name people read in listings and tables: printable, not blank. */
const NameSchema = Type.String({ minLength: 1, maxLength: 200, pattern: '^(?=.*\\S)[^\\x00-\\x1f\\x7f]+$' })

/** Names are unique (compared trimmed and without case), so `imagetune projects` and the audit never show two alike. */
export const CreateProjectSchema = Type.Object({ name: NameSchema }, { additionalProperties: false })

const ProjectKeyScopeSchema = Type.Union([Type.Literal('train'), Type.Literal('predict')])
const ScopeSchema = Type.Union([Type.Literal('train'), Type.Literal('predict'), Type.Literal('admin')])

export const CreateKeySchema = Type.Object(
  {
    scopes: Type.Array(ProjectKeyScopeSchema, { minItems: 1, uniqueItems: true }),
    name: Type.Optional(NameSchema),
  },
  { additionalProperties: false },
)

/** A key as listed: never the key itself, which exists only in the answer that created it. */
export const KeyListingSchema = Type.Object({
  id: KeyIdSchema,
  name: Type.Union([Type.String(), Type.Null()]),
  scopes: Type.Array(ProjectKeyScopeSchema),
  createdAt: Type.String(),
  /** ISO 8601, to the minute (written at most once a minute per key and replica); null before first use. */
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
})
export type KeyListing = Static<typeof KeyListingSchema>

/** The answer to creating a key: the listing plus the key, shown this once. */
export const CreatedKeySchema = Type.Object({ ...KeyListingSchema.properties, key: Type.String({ description: 'The key; only its hash is stored, so it is shown this once.' }) })

/** One mutating request against a project, as recorded by the audit. */
export const AuditEventSchema = Type.Object({
  /** The event's cursor (a Redis stream id), increasing with time. */
  id: Type.String(),
  /** ISO 8601. */
  at: Type.String(),
  method: Type.String(),
  /** The route pattern (`/datasets/:id`) and the path asked for. */
  route: Type.String(),
  path: Type.String(),
  /** `key:<id>` of the caller, or `ip:<address>` in open mode. */
  principal: Type.String(),
  status: Type.Integer(),
  /** The error code of a refused request; null on success. */
  code: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.String(),
})
export type AuditEvent = Static<typeof AuditEventSchema>

/** Which project and scopes the calling key has (the dashboard's key dialog shows it). */
export const WhoAmISchema = Type.Object({
  project: Type.Object({ id: ProjectIdSchema, name: Type.String() }),
  principal: Type.String(),
  scopes: Type.Array(ScopeSchema),
  /** True when the API runs without keys (one `default` project, every scope but admin). */
  open: Type.Boolean(),
})
export type WhoAmI = Static<typeof WhoAmISchema>
