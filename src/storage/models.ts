import type { ModelDocument } from '../contract/models.js'
import { AppError } from '../errors.js'
import { scopedStore, type BlobStore, type BlobStream } from './blob-store.js'
import { localBlobStore } from './local-blob-store.js'
import { isId } from './layout.js'

/** Written last: a model is listed (and loadable) only once its metadata is there. */
export const METADATA_FILE = 'metadata.json'

/**
 * A serialised model as ml writes it: file name → bytes (`model.json` and the weight files it names). Storage
 * moves these bytes and never parses them.
 */
export type ModelFiles = Record<string, Uint8Array>

/** What a stored model is; `metadata.json` next to its model.json + weights.bin. Its shape is the contract's. */
export type ModelMetadata = ModelDocument

export interface ModelStore {
  /** Publishes `models/<id>/` (the model's files, then metadata.json last): seen whole or not at all. */
  save(id: string, files: ModelFiles, metadata: ModelMetadata): Promise<void>
  getMetadata(id: string): Promise<ModelMetadata | undefined>
  /** Every stored model's metadata, newest first. */
  list(): Promise<ModelMetadata[]>
  /** @returns false when there was no such model */
  remove(id: string): Promise<boolean>
  /** One of the model's files (model.json, a weights file) for serving; undefined when it has none by that name. */
  openFile(id: string, name: string): Promise<BlobStream | undefined>
  /**
   * The model's files (everything but metadata.json), for `modelFromFiles` in ml.
   * @throws AppError MODEL_NOT_FOUND
   */
  load(id: string): Promise<ModelFiles>
  /**
   * Sets the display name in the model's metadata (the files are untouched); metadata.json is replaced whole, so
   * a reader sees the old or the new name.
   * @returns the updated metadata, or undefined when there is no such model
   */
  rename(id: string, name: string): Promise<ModelMetadata | undefined>
}

/** File names inside a model's folder: no paths, no hidden files. */
const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/

/**
 * Models under `models/<id>/` of the store (or directly under a local folder, given its path): the files ml
 * serialised and metadata.json, which marks the model complete.
 */
export function createModelStore(where: string | BlobStore): ModelStore {
  const store = typeof where === 'string' ? localBlobStore(where) : scopedStore(where, 'models')
  const checked = (id: string) => {
    if (!isId(id)) throw new AppError('MODEL_NOT_FOUND', `no model '${id}'`)
    return id
  }
  const getMetadata = async (id: string): Promise<ModelMetadata | undefined> => {
    if (!isId(id)) return undefined
    const bytes = await store.get(`${id}/${METADATA_FILE}`)
    return bytes && (JSON.parse(bytes.toString('utf8')) as ModelMetadata)
  }
  return {
    getMetadata,
    async save(id, files, metadata) {
      const all: Record<string, Uint8Array | string> = { ...files, [METADATA_FILE]: `${JSON.stringify(metadata, null, 2)}\n` }
      await store.publish(checked(id), { files: all }, METADATA_FILE)
    },
    async list() {
      const names = (await store.children('')).filter(isId)
      const all = await Promise.all(names.map(getMetadata))
      return all.filter((m): m is ModelMetadata => m !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    },
    async remove(id) {
      if (!isId(id)) return false
      return store.deletePrefix(id, METADATA_FILE)
    },
    async openFile(id, name) {
      if (!FILE_NAME.test(name) || name === METADATA_FILE || !(await getMetadata(checked(id)))) return undefined
      return store.stream(`${id}/${name}`)
    },
    async rename(id, name) {
      const metadata = await getMetadata(id)
      if (!metadata) return undefined
      const renamed = { ...metadata, name }
      await store.put(`${id}/${METADATA_FILE}`, `${JSON.stringify(renamed, null, 2)}\n`)
      return renamed
    },
    async load(id) {
      if (!(await getMetadata(id))) throw new AppError('MODEL_NOT_FOUND', `no model '${id}'`)
      const keys = (await store.list(id)).filter((k) => k !== `${id}/${METADATA_FILE}`)
      const files: ModelFiles = {}
      await Promise.all(
        keys.map(async (key) => {
          const bytes = await store.get(key)
          if (bytes) files[key.slice(id.length + 1)] = bytes
        }),
      )
      return files
    },
  }
}
