import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import {
  DEFAULT_PROJECT_ID,
  type KeyListing,
  type Project,
  type ProjectKeyScope,
  type Quota,
  type QuotaOverride,
  type Scope,
} from '../contract/projects.js'
import { AppError, causeCode } from '../errors.js'
import type { LogSink } from '../logger.js'
import type { BlobStore } from '../storage/blob-store.js'

/** The defaults every project's quota starts from (config settings). */
export interface QuotaDefaults {
  PROJECT_MAX_QUEUED_JOBS: number
  PROJECT_MAX_STORED_BYTES: number
  RATE_LIMIT_PREDICT_PER_MIN: number
  RATE_LIMIT_UPLOADS_PER_MIN: number
}

/** Which setting a quota field defaults to, named in a 429 or 507 for a project without an override. */
export const QUOTA_SETTING = {
  queuedJobs: 'PROJECT_MAX_QUEUED_JOBS',
  storedBytes: 'PROJECT_MAX_STORED_BYTES',
  predictPerMin: 'RATE_LIMIT_PREDICT_PER_MIN',
  uploadsPerMin: 'RATE_LIMIT_UPLOADS_PER_MIN',
} as const satisfies Record<keyof Quota, keyof QuotaDefaults>

/** What a 429 or 507 names as its limit: the config setting a project's default comes from, or its override. */
export function limitName(field: keyof Quota, override: QuotaOverride): string {
  return override[field] === undefined ? QUOTA_SETTING[field] : `quota.${field}`
}

/** A key the registry holds: what authentication needs. */
export interface RegisteredKey {
  id: string
  projectId: string
  scopes: Scope[]
}

interface StoredProject {
  id: string
  name: string
  createdAt: string
  quotaOverride: QuotaOverride
}

interface StoredKey {
  id: string
  /** sha256 hex of the key. */
  hash: string
  projectId: string
  name: string | null
  scopes: Scope[]
  createdAt: string
}

export interface ProjectRegistry {
  /** The key whose sha256 is `hash`, or undefined; one Redis round trip, no cache, so a revocation holds at once. */
  authenticate(hash: string): Promise<RegisteredKey | undefined>
  /** The id and project of a revoked key by its hash (for the audit of its use), or undefined. */
  revokedKey(hash: string): Promise<{ id: string; projectId: string } | undefined>
  /** Records a use of the key, at most once a minute per key and process. */
  touch(keyId: string): void
  /** A project named `name` (trimmed). @throws AppError PROJECT_EXISTS when nameKey(name) is taken */
  create(name: string): Promise<Project>
  get(id: string): Promise<Project | undefined>
  list(): Promise<Project[]>
  /**
   * The project's limits, from a copy at most QUOTA_CACHE_MS old (a quota change is not a revocation). While Redis
   * is down, the last copy read or the defaults: what they limit cannot be counted then anyway, and predictions
   * with stored models must go on.
   */
  quota(id: string): Promise<{ quota: Quota; override: QuotaOverride }>
  setQuota(id: string, override: QuotaOverride): Promise<Project | undefined>
  createKey(projectId: string, scopes: Scope[], name: string | undefined): Promise<KeyListing & { key: string }>
  listKeys(projectId: string): Promise<KeyListing[]>
  /** @returns false when the project has no such key */
  revokeKey(projectId: string, keyId: string): Promise<boolean>
  /** Revokes every key of the project (the first step of deleting it). */
  revokeAll(projectId: string): Promise<void>
  /** Forgets the project (its keys already revoked, its data already deleted). */
  remove(projectId: string): Promise<void>
  /** Copies the store's records into Redis when Redis lost them (a flush, a new Redis); idempotent. */
  restore(): Promise<void>
}

/** How long a process trusts its copy of a project's quota, ms. */
const QUOTA_CACHE_MS = 1_000
/** A key's last use is written at most this often per process, ms: a read per request, not a write. */
const TOUCH_EVERY_MS = 60_000
/** How long a registry call waits for a connection that is still being made, ms. */
const CONNECT_WAIT_MS = 1_000
/** Keys created through the API: a recognisable prefix and 256 random bits. */
const KEY_PREFIX = 'itk_'

/** sha256 hex, as API_KEYS stores it. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

/** What project names are compared by: two names people would read as the same one are the same. */
export function nameKey(name: string): string {
  return name.trim().normalize('NFC').toLowerCase()
}

/** The id a key is known by in logs, listings and URLs: the first 16 hex digits of its hash. */
export function keyIdOf(hash: string): string {
  return hash.slice(0, 16)
}

/**
 * Copies the store's records into Redis atomically, skipping what was revoked or deleted after Redis lost its data:
 * a revocation racing a restore either lands first (its tombstone makes the restore skip the key) or after (its HDEL
 * removes the restored copy), so a restore never brings a revoked key back.
 * KEYS: projects, keys, revoked, deleted, restored marker, names. ARGV[1]: key prefix of per-project hashes; ARGV[2]: JSON.
 */
const RESTORE_SCRIPT = `
local records = cjson.decode(ARGV[2])
for _, p in ipairs(records) do
  if redis.call('SISMEMBER', KEYS[4], p.project.id) == 0 then
    redis.call('HSETNX', KEYS[1], p.project.id, cjson.encode(p.project))
    redis.call('HSETNX', KEYS[6], p.nameKey, p.project.id)
    for _, k in ipairs(p.keys) do
      if redis.call('SISMEMBER', KEYS[3], k.hash) == 0 then
        redis.call('HSETNX', KEYS[2], k.hash, cjson.encode({ id = k.id, projectId = k.projectId, scopes = k.scopes }))
        redis.call('HSETNX', ARGV[1] .. p.project.id .. ':keys', k.id, cjson.encode(k))
      end
    end
  end
end
redis.call('SET', KEYS[5], '1')
return #records
`

/**
 * Projects and their keys in Redis (`<prefix>:projects:*`), every record also written to the store under
 * `registry/projects/<id>/` first, so a Redis that lost its data (a flush, a replacement) is refilled from the store
 * on the next lookup. Keys are stored as sha256 hashes only.
 */
export function createProjectRegistry(opts: { redis: Redis; prefix: string; store: BlobStore; defaults: QuotaDefaults; log: LogSink }): ProjectRegistry {
  const { redis, store, defaults, log } = opts
  const base = `${opts.prefix}:projects:`
  const K = {
    projects: `${base}all`,
    keys: `${base}keys`,
    lastUsed: `${base}last-used`,
    revoked: `${base}revoked`,
    /** hash → {id, projectId} of each revoked key, so a use of one is audited in its project. */
    revokedKeys: `${base}revoked-keys`,
    deleted: `${base}deleted`,
    restored: `${base}restored`,
    /** nameKey(name) → project id: what makes names unique across replicas. */
    names: `${base}names`,
    projectKeys: (id: string) => `${base}${id}:keys`,
  }
  const backup = {
    project: (id: string) => `registry/projects/${id}/project.json`,
    key: (projectId: string, keyId: string) => `registry/projects/${projectId}/keys/${keyId}.json`,
  }
  const quotaCache = new Map<string, { at: number; value: { quota: Quota; override: QuotaOverride } }>()
  const touched = new Map<string, number>()

  const effective = (override: QuotaOverride): Quota => ({
    queuedJobs: override.queuedJobs ?? defaults.PROJECT_MAX_QUEUED_JOBS,
    storedBytes: override.storedBytes ?? defaults.PROJECT_MAX_STORED_BYTES,
    predictPerMin: override.predictPerMin ?? defaults.RATE_LIMIT_PREDICT_PER_MIN,
    uploadsPerMin: override.uploadsPerMin ?? defaults.RATE_LIMIT_UPLOADS_PER_MIN,
  })
  const view = (p: StoredProject): Project => ({ ...p, quota: effective(p.quotaOverride) })
  const listing = (k: StoredKey, lastUsed: string | null | undefined): KeyListing => ({
    id: k.id,
    name: k.name,
    scopes: k.scopes.filter((s): s is ProjectKeyScope => s !== 'admin'),
    createdAt: k.createdAt,
    lastUsedAt: lastUsed ? new Date(Number(lastUsed)).toISOString() : null,
  })

  /**
   * Redis being down must read as 503 with a code. The connection fails fast (no offline queue), so a call made
   * while it is still connecting (the first requests after a start) waits up to CONNECT_WAIT_MS for it.
   */
  async function redisCall<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      if (redis.status !== 'ready') await connected()
      return await call()
    } catch (err) {
      if (err instanceof AppError) throw err
      log.error({ err }, `project registry ${what} failed`)
      throw new AppError('QUEUE_UNAVAILABLE', `the key registry is unavailable (${causeCode(err)})`, { cause: causeCode(err) })
    }
  }

  function connected(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        redis.off('ready', done)
        resolve()
      }
      const timer = setTimeout(done, CONNECT_WAIT_MS)
      redis.once('ready', done)
    })
  }

  let restoring: Promise<void> | undefined
  async function restoreNow(): Promise<void> {
    const records: { project: StoredProject; nameKey: string; keys: StoredKey[] }[] = []
    for (const id of await store.children('registry/projects')) {
      const project = await store.get(backup.project(id))
      if (!project) continue
      const keys: StoredKey[] = []
      for (const name of await store.children(`registry/projects/${id}/keys`)) {
        const key = await store.get(`registry/projects/${id}/keys/${name}`)
        if (key) keys.push(JSON.parse(key.toString('utf8')) as StoredKey)
      }
      const stored = JSON.parse(project.toString('utf8')) as StoredProject
      records.push({ project: stored, nameKey: nameKey(stored.name), keys })
    }
    const count = await redis.eval(RESTORE_SCRIPT, 6, K.projects, K.keys, K.revoked, K.deleted, K.restored, K.names, base, JSON.stringify(records))
    log.info({ projects: count }, 'project registry restored from the store')
  }
  /** One restore at a time per process; replicas restoring at once write the same records. */
  function restore(): Promise<void> {
    restoring ??= restoreNow().finally(() => (restoring = undefined))
    return restoring
  }
  async function ensureRestored(): Promise<void> {
    if (!(await redis.exists(K.restored))) await restore()
  }

  async function readProject(id: string): Promise<StoredProject | undefined> {
    await ensureRestored()
    const raw = await redis.hget(K.projects, id)
    return raw ? (JSON.parse(raw) as StoredProject) : undefined
  }

  async function writeProject(project: StoredProject): Promise<void> {
    await store.put(backup.project(project.id), JSON.stringify(project))
    await redisCall('write', () =>
      redis.multi().hset(K.projects, project.id, JSON.stringify(project)).hsetnx(K.names, nameKey(project.name), project.id).srem(K.deleted, project.id).exec(),
    )
    quotaCache.delete(project.id)
  }

  /** `default` always exists: created (with its backup) the first time anything asks for it. */
  async function ensureDefault(): Promise<void> {
    if (await readProject(DEFAULT_PROJECT_ID)) return
    const existing = await store.get(backup.project(DEFAULT_PROJECT_ID))
    const project: StoredProject = existing
      ? (JSON.parse(existing.toString('utf8')) as StoredProject)
      : { id: DEFAULT_PROJECT_ID, name: DEFAULT_PROJECT_ID, createdAt: new Date().toISOString(), quotaOverride: {} }
    await writeProject(project)
  }

  async function keysOf(projectId: string): Promise<StoredKey[]> {
    const raw = await redis.hvals(K.projectKeys(projectId))
    return raw.map((r) => JSON.parse(r) as StoredKey)
  }

  async function revoke(key: StoredKey): Promise<void> {
    await store.delete(backup.key(key.projectId, key.id))
    await redis
      .multi()
      .sadd(K.revoked, key.hash)
      .hset(K.revokedKeys, key.hash, JSON.stringify({ id: key.id, projectId: key.projectId }))
      .hdel(K.keys, key.hash).hdel(K.projectKeys(key.projectId), key.id).hdel(K.lastUsed, key.id).exec()
  }

  return {
    authenticate: (hash) =>
      redisCall('lookup', async () => {
        const [[, raw], [, restored]] = (await redis.multi().hget(K.keys, hash).exists(K.restored).exec()) as [[unknown, string | null], [unknown, number]]
        if (raw) return JSON.parse(raw) as RegisteredKey
        if (restored) return undefined
        await restore()
        const again = await redis.hget(K.keys, hash)
        return again ? (JSON.parse(again) as RegisteredKey) : undefined
      }),
    revokedKey: (hash) =>
      redisCall('lookup', async () => {
        const raw = await redis.hget(K.revokedKeys, hash)
        return raw ? (JSON.parse(raw) as { id: string; projectId: string }) : undefined
      }),
    touch(keyId) {
      const now = Date.now()
      if (now - (touched.get(keyId) ?? 0) < TOUCH_EVERY_MS) return
      touched.set(keyId, now)
      redis.hset(K.lastUsed, keyId, String(now)).catch((err: unknown) => log.warn({ err, keyId }, 'last use of a key not recorded'))
    },
    create: (name) =>
      redisCall('create', async () => {
        await ensureDefault()
        const project: StoredProject = { id: randomUUID(), name: name.trim().normalize('NFC'), createdAt: new Date().toISOString(), quotaOverride: {} }
        // Claimed first, atomically: two replicas creating the same name at once make one project.
        if (!(await redis.hsetnx(K.names, nameKey(name), project.id))) {
          const holder = await redis.hget(K.names, nameKey(name))
          throw new AppError('PROJECT_EXISTS', `a project named '${project.name}' exists already (${holder}); names are compared without case`, { id: holder })
        }
        try {
          await writeProject(project)
        } catch (err) {
          await redis.hdel(K.names, nameKey(name))
          throw err
        }
        return view(project)
      }),
    get: (id) =>
      redisCall('read', async () => {
        if (id === DEFAULT_PROJECT_ID) await ensureDefault()
        const project = await readProject(id)
        return project && view(project)
      }),
    list: () =>
      redisCall('list', async () => {
        await ensureDefault()
        const all = Object.values(await redis.hgetall(K.projects)).map((raw) => view(JSON.parse(raw) as StoredProject))
        return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      }),
    async quota(id) {
      const cached = quotaCache.get(id)
      if (cached && Date.now() - cached.at < QUOTA_CACHE_MS) return cached.value
      let project: StoredProject | undefined
      try {
        project = await readProject(id)
      } catch (err) {
        log.debug({ err, projectId: id }, 'quota read failed; using the last copy or the defaults')
        return cached?.value ?? { quota: effective({}), override: {} }
      }
      const override = project?.quotaOverride ?? {}
      const value = { quota: effective(override), override }
      quotaCache.set(id, { at: Date.now(), value })
      return value
    },
    setQuota: (id, override) =>
      redisCall('write', async () => {
        if (id === DEFAULT_PROJECT_ID) await ensureDefault()
        const project = await readProject(id)
        if (!project) return undefined
        const updated = { ...project, quotaOverride: override }
        await writeProject(updated)
        return view(updated)
      }),
    createKey: (projectId, scopes, name) =>
      redisCall('write', async () => {
        const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`
        const hash = hashKey(key)
        const record: StoredKey = { id: keyIdOf(hash), hash, projectId, name: name ?? null, scopes, createdAt: new Date().toISOString() }
        await store.put(backup.key(projectId, record.id), JSON.stringify(record))
        await redis
          .multi()
          .hset(K.keys, hash, JSON.stringify({ id: record.id, projectId, scopes } satisfies RegisteredKey))
          .hset(K.projectKeys(projectId), record.id, JSON.stringify(record))
          .exec()
        return { ...listing(record, null), key }
      }),
    listKeys: (projectId) =>
      redisCall('list', async () => {
        await ensureRestored()
        const keys = (await keysOf(projectId)).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
        if (keys.length === 0) return []
        const used = await redis.hmget(K.lastUsed, ...keys.map((k) => k.id))
        return keys.map((k, i) => listing(k, used[i]))
      }),
    revokeKey: (projectId, keyId) =>
      redisCall('write', async () => {
        await ensureRestored()
        const raw = await redis.hget(K.projectKeys(projectId), keyId)
        if (!raw) return false
        await revoke(JSON.parse(raw) as StoredKey)
        return true
      }),
    revokeAll: (projectId) =>
      redisCall('write', async () => {
        await ensureRestored()
        for (const key of await keysOf(projectId)) await revoke(key)
      }),
    remove: (projectId) =>
      redisCall('write', async () => {
        const project = await readProject(projectId)
        await store.deletePrefix(`registry/projects/${projectId}`)
        const removal = redis.multi().sadd(K.deleted, projectId).hdel(K.projects, projectId).del(K.projectKeys(projectId))
        // The name is free again for a new project (with a new id: the old keys stay revoked).
        if (project && (await redis.hget(K.names, nameKey(project.name))) === projectId) removal.hdel(K.names, nameKey(project.name))
        await removal.exec()
        quotaCache.delete(projectId)
      }),
    restore: () => redisCall('restore', restore),
  }
}
