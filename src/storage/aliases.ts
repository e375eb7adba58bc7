import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { writeJsonAtomic } from './atomic.js'

/** Alias names look like words (`prod`, `cats-v2`); resolution tries an alias before a model id. */
export const ALIAS_PATTERN = '^[a-z][a-z0-9-]{0,63}$'
export const ALIASES_FILE = 'aliases.json'

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

/**
 * Aliases in one JSON file, `<models>/aliases.json`, replaced atomically (temp file + rename) on each change.
 * Changes in this process are serialised; two API replicas changing aliases at the same instant can lose one
 * change (last rename wins), which is acceptable for an operator's deploy step.
 */
export function createAliasStore(modelsDir: string): AliasStore {
  const file = path.join(modelsDir, ALIASES_FILE)
  let writes: Promise<unknown> = Promise.resolve()

  const list = async (): Promise<Record<string, string>> => {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as Record<string, string>
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw err
    }
  }
  /** Read-modify-write under the in-process lock. */
  const update = <T>(change: (aliases: Record<string, string>) => T): Promise<T> => {
    const next = writes.then(async () => {
      const aliases = await list()
      const result = change(aliases)
      await writeJsonAtomic(file, aliases)
      return result
    })
    writes = next.catch(() => undefined)
    return next
  }
  const get = async (name: string) => {
    const aliases = await list()
    return Object.hasOwn(aliases, name) ? aliases[name] : undefined
  }

  return {
    list,
    get,
    set: (name, modelId) =>
      update((aliases) => {
        aliases[name] = modelId
      }),
    remove: (name) =>
      update((aliases) => {
        if (!Object.hasOwn(aliases, name)) return false
        delete aliases[name]
        return true
      }),
    resolve: async (name) => (await get(name)) ?? name,
    removeTargeting: (modelId) =>
      update((aliases) => {
        const names = Object.keys(aliases).filter((name) => aliases[name] === modelId)
        for (const name of names) delete aliases[name]
        return names
      }),
  }
}
