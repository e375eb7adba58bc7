import { randomUUID } from 'node:crypto'
import { readdir, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { AppError } from '../errors.js'
import { publishDir, writeJsonAtomic } from './atomic.js'
import { safeJoin } from './layout.js'
import { asStorageError } from './storage-error.js'

/** Names users give uploaded bases: they are used as `baseModel` in jobs and as folder names. */
export const BASE_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$'
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

/** Uploaded bases: `<bases>/uploaded/<name>/base.json` and `<modelDir>/model.json` + weights, published whole. */
export interface BaseStore {
  /**
   * Publishes a base under `name`: `fill` writes the model files into the staging folder it is given and returns
   * the description, which is stored as base.json; nothing is visible until it succeeds.
   * @throws AppError BASE_EXISTS when the name is taken, STORAGE_UNAVAILABLE on a disk fault
   */
  publish(name: string, fill: (staging: string) => Promise<StoredBase>): Promise<StoredBase>
  /** Undefined for unknown names and for strings that are no name. */
  get(name: string): Promise<StoredBase | undefined>
  /** By name. */
  list(): Promise<StoredBase[]>
  remove(name: string): Promise<boolean>
  /** Absolute path of the base's model.json. */
  modelFile(base: StoredBase): string
}

const BASE_FILE = 'base.json'

export function isBaseName(value: string): boolean {
  return NAME.test(value)
}

export function createBaseStore(basesDir: string): BaseStore {
  const root = path.join(basesDir, 'uploaded')
  const folderOf = (name: string) => safeJoin(root, name)

  async function get(name: string): Promise<StoredBase | undefined> {
    if (!isBaseName(name)) return undefined
    try {
      return JSON.parse(await readFile(path.join(folderOf(name), BASE_FILE), 'utf8')) as StoredBase
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  return {
    get,
    async publish(name, fill) {
      if (!isBaseName(name)) throw new AppError('VALIDATION', `base name must match ${BASE_NAME_PATTERN}`)
      if (await get(name)) throw new AppError('BASE_EXISTS', `a base named '${name}' exists; delete it first`)
      let stored: StoredBase | undefined
      try {
        await publishDir(folderOf(name), async (staging) => {
          stored = await fill(staging)
          await writeJsonAtomic(path.join(staging, BASE_FILE), stored)
        })
      } catch (err) {
        // Two uploads of one name racing: the second rename finds the folder taken.
        if (['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) {
          throw new AppError('BASE_EXISTS', `a base named '${name}' exists; delete it first`)
        }
        throw asStorageError(err)
      }
      return stored as StoredBase
    },
    async list() {
      let names: string[]
      try {
        names = await readdir(root)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw asStorageError(err)
      }
      const bases = await Promise.all(names.filter(isBaseName).map(get))
      return bases.filter((b): b is StoredBase => b !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1))
    },
    async remove(name) {
      if (!isBaseName(name)) return false
      // Renamed away first: a job loading it sees the whole base or none.
      const doomed = path.join(root, `.removing-${name}-${randomUUID()}`)
      try {
        await rename(folderOf(name), doomed)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
        throw asStorageError(err)
      }
      await rm(doomed, { recursive: true, force: true })
      return true
    },
    modelFile(base) {
      return safeJoin(folderOf(base.name), base.modelDir, 'model.json')
    },
  }
}
