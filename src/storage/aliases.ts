import { scopedStore, type BlobStore } from './blob-store.js'

/** Alias names look like words (`prod`, `cats-v2`); resolution tries an alias before a model id. */
export const ALIAS_PATTERN = '^[a-z][a-z0-9-]{0,63}$'
/** Where aliases lived before each had its own object: `models/aliases.json`, moved over on first use. */
export const LEGACY_ALIASES_KEY = 'models/aliases.json'
const ALIAS = new RegExp(ALIAS_PATTERN)
const SUFFIX = '.json'

export interface AliasStore {
  /** Every alias → model id. */
  list(): Promise<Record<string, string>>
  get(name: string): Promise<string | undefined>
  /** Points `name` at `modelId` (creating or moving it); readers see the old or the new target, never neither. */
  set(name: string, modelId: string): Promise<void>
  /** @returns false when there was no such alias */
  remove(name: string): Promise<boolean>
  /** `name` when it is no alias (then it should be a model id), else the model id it points to. */
  resolve(name: string): Promise<string>
  /** Removes every alias that points at `modelId` (before the model goes, so none dangles). @returns their names */
  removeTargeting(modelId: string): Promise<string[]>
}

export interface AliasStoreOptions {
  /**
   * How long `get`/`resolve` trust what they read, ms: an alias moved through another replica is served here at
   * most this much (plus one store read) later. Changes made through this store are seen at once. @defaultValue 0
   */
  cacheMs?: number
  now?: () => number
}

/**
 * One object per alias, `aliases/<name>.json` = `{"modelId": …}`. Every change is one whole-object PUT (S3 and
 * the disk driver both replace an object atomically, and S3 reads are strongly consistent), so there is no
 * read-modify-write to lose: two replicas moving different aliases at once both land, and two moving the same
 * alias leave one of the two targets, as if one came after the other. That needs neither conditional writes
 * (s3rver and older MinIO ignore If-Match) nor Redis as the register (aliases must survive a Redis flush, like
 * the models they name). Other replicas see a move within `cacheMs`.
 */
export function createAliasStore(root: BlobStore, opts: AliasStoreOptions = {}): AliasStore {
  const store = scopedStore(root, 'aliases')
  const cacheMs = opts.cacheMs ?? 0
  const now = opts.now ?? Date.now
  const cache = new Map<string, { modelId: string | undefined; at: number }>()
  let migrated: Promise<void> | undefined

  /** Moves a pre-store `models/aliases.json` into per-alias objects once; an existing object wins. */
  const migrate = () =>
    (migrated ??= (async () => {
      const legacy = await root.get(LEGACY_ALIASES_KEY)
      if (!legacy) return
      const aliases = JSON.parse(legacy.toString('utf8')) as Record<string, string>
      for (const [name, modelId] of Object.entries(aliases)) {
        if (ALIAS.test(name) && !(await store.get(`${name}${SUFFIX}`))) await write(name, modelId)
      }
      await root.delete(LEGACY_ALIASES_KEY)
    })().catch((err: unknown) => {
      migrated = undefined // tried again on the next call
      throw err
    }))

  const write = (name: string, modelId: string) => store.put(`${name}${SUFFIX}`, `${JSON.stringify({ modelId })}\n`)
  const read = async (name: string): Promise<string | undefined> => {
    if (!ALIAS.test(name)) return undefined
    await migrate()
    const bytes = await store.get(`${name}${SUFFIX}`)
    const modelId = bytes && (JSON.parse(bytes.toString('utf8')) as { modelId?: unknown }).modelId
    return typeof modelId === 'string' ? modelId : undefined
  }
  const get = async (name: string): Promise<string | undefined> => {
    const hit = cache.get(name)
    if (hit && now() - hit.at < cacheMs) return hit.modelId
    const modelId = await read(name)
    if (cacheMs > 0) cache.set(name, { modelId, at: now() })
    return modelId
  }

  return {
    async list() {
      await migrate()
      const names = (await store.children('')).filter((n) => n.endsWith(SUFFIX)).map((n) => n.slice(0, -SUFFIX.length))
      const entries = await Promise.all(names.map(async (name) => [name, await read(name)] as const))
      return Object.fromEntries(entries.filter((e): e is readonly [string, string] => e[1] !== undefined))
    },
    get,
    async set(name, modelId) {
      await migrate()
      await write(name, modelId)
      cache.delete(name)
    },
    async remove(name) {
      const existed = (await read(name)) !== undefined
      if (existed) await store.delete(`${name}${SUFFIX}`)
      cache.delete(name)
      return existed
    },
    resolve: async (name) => (await get(name)) ?? name,
    async removeTargeting(modelId) {
      await migrate()
      const names = (await store.children('')).filter((n) => n.endsWith(SUFFIX)).map((n) => n.slice(0, -SUFFIX.length))
      const removed: string[] = []
      for (const name of names) {
        // Read just before the delete: an alias another replica has just moved to another model is left alone
        // (the window is one store round trip, as for any two replicas changing one alias at once).
        if ((await read(name)) !== modelId) continue
        await store.delete(`${name}${SUFFIX}`)
        cache.delete(name)
        removed.push(name)
      }
      return removed
    },
  }
}
