import { randomUUID } from 'node:crypto'
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { AppError } from '../errors.js'
import { writeJsonAtomic } from '../atomic-write.js'
import { localFile, scopedStore } from './blob-store.js'
import { safeJoin } from './layout.js'
import { BASE_NAME_PATTERN } from '../contract/jobs.js'
import type { Stores } from './open-store.js'
import { asStorageError } from './storage-error.js'

const NAME = new RegExp(BASE_NAME_PATTERN)

/** What `POST /bases` stored: how to load the model and what it gives. */
export interface StoredBase {
  name: string
  /** 'layers': a tfjs LayersModel (fine-tunable); 'graph': a tfjs GraphModel (head-only training). */
  kind: 'layers' | 'graph'
  /** Side of the square input, pixels. */
  inputSize: number
  /** The layer (LayersModel) or node (GraphModel) features are taken at. */
  featureLayer: string
  featureSize: number
  preprocessing: string
  /** ISO 8601. */
  createdAt: string
  /** Bytes of model.json and weights. */
  bytes: number
  /**
   * Folder of model.json + weights, relative to the base's folder: named by a hash of their content, so a name
   * deleted and uploaded again with other weights never meets the features cached for the old ones.
   */
  modelDir: string
}

/**
 * Uploaded bases in the store: `bases/uploaded/<name>/base.json` (written last, it marks the base complete) and
 * `<modelDir>/model.json` + weights. Loading needs files on this process's disk (feature threads read them by
 * path): where the store is remote, `localModelFile` fetches the model into `<DATA_DIR>/bases/uploaded/` first.
 */
export interface BaseStore {
  /**
   * Publishes a base under `name`: `fill` writes the model files into the local staging folder it is given and
   * returns the description, which is stored as base.json; nothing is visible until it succeeds.
   * @throws AppError BASE_EXISTS when the name is taken, STORAGE_UNAVAILABLE on a store fault
   */
  publish(name: string, fill: (staging: string) => Promise<StoredBase>): Promise<StoredBase>
  /** Undefined for unknown names and for strings that are no name. */
  get(name: string): Promise<StoredBase | undefined>
  /** By name. */
  list(): Promise<StoredBase[]>
  remove(name: string): Promise<boolean>
  /**
   * Absolute path of the base's model.json on this process's disk, fetched from the store first when it is remote
   * (kept: `modelDir` is named by content, so a cached copy is never stale).
   * @throws AppError BASE_NOT_FOUND when the base was removed meanwhile
   */
  localModelFile(base: StoredBase): Promise<string>
}

const BASE_FILE = 'base.json'
const MODEL_FILE = 'model.json'

export function isBaseName(value: string): boolean {
  return NAME.test(value)
}

/** @param basesDir this process's `<DATA_DIR>/bases`: staging for uploads and the cache of fetched models */
export function createBaseStore(stores: Stores, basesDir: string): BaseStore {
  const store = scopedStore(stores.shared, 'bases/uploaded')
  const localRoot = path.join(basesDir, 'uploaded')
  const exists = (name: string) => new AppError('BASE_EXISTS', `a base named '${name}' exists; delete it first`)

  async function get(name: string): Promise<StoredBase | undefined> {
    if (!isBaseName(name)) return undefined
    const bytes = await store.get(`${name}/${BASE_FILE}`)
    return bytes && (JSON.parse(bytes.toString('utf8')) as StoredBase)
  }

  return {
    get,
    async publish(name, fill) {
      if (!isBaseName(name)) throw new AppError('VALIDATION', `base name must match ${BASE_NAME_PATTERN}`)
      if (await get(name)) throw exists(name)
      const staging = path.join(basesDir, `.staging-${name}-${randomUUID()}`)
      try {
        await mkdir(staging, { recursive: true })
        const stored = await fill(staging)
        await writeJsonAtomic(path.join(staging, BASE_FILE), stored)
        await store.publish(name, { dir: staging }, BASE_FILE)
        return stored
      } catch (err) {
        if (err instanceof AppError && err.code !== 'STORAGE_UNAVAILABLE') throw err
        // Two uploads of one name racing: the second publication finds the name taken.
        if (await get(name).catch(() => undefined)) throw exists(name)
        throw asStorageError(err)
      } finally {
        await rm(staging, { recursive: true, force: true })
      }
    },
    async list() {
      const names = (await store.children('')).filter(isBaseName)
      const bases = await Promise.all(names.map(get))
      return bases.filter((b): b is StoredBase => b !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1))
    },
    async remove(name) {
      if (!isBaseName(name)) return false
      // base.json goes first: a job loading it sees the whole base or none.
      return store.deletePrefix(name, BASE_FILE)
    },
    async localModelFile(base) {
      const prefix = `${base.name}/${base.modelDir}`
      // Without STORAGE_URL the store is DATA_DIR: read in place.
      const inStore = localFile(store, `${prefix}/${MODEL_FILE}`)
      if (inStore) return inStore
      const folder = safeJoin(localRoot, base.name, base.modelDir)
      const file = path.join(folder, MODEL_FILE)
      if (await stat(file).then(() => true, () => false)) return file
      const keys = await store.list(prefix)
      if (keys.length === 0) throw new AppError('BASE_NOT_FOUND', `uploaded base '${base.name}' is gone from the store`)
      const staging = path.join(basesDir, `.fetching-${base.name}-${randomUUID()}`)
      try {
        await mkdir(staging, { recursive: true })
        for (const key of keys) {
          const bytes = await store.get(key)
          if (!bytes) throw new AppError('BASE_NOT_FOUND', `uploaded base '${base.name}' is gone from the store`)
          await writeFile(safeJoin(staging, key.slice(prefix.length + 1)), bytes)
        }
        await mkdir(path.dirname(folder), { recursive: true })
        // Another process may have fetched it first: the same bytes, so its copy will do.
        await rename(staging, folder).catch(async (err: NodeJS.ErrnoException) => {
          if (!(await stat(file).then(() => true, () => false))) throw err
        })
        return file
      } catch (err) {
        throw asStorageError(err)
      } finally {
        await rm(staging, { recursive: true, force: true })
      }
    },
  }
}
