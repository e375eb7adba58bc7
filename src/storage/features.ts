import { endianness } from 'node:os'
import { scopedStore, type BlobStore } from './blob-store.js'
import { localBlobStore } from './local-blob-store.js'

/** Base ids: 'mobilenet_v2', 'mobilenet_v3_coco', 'url-<hex>'. */
const BASE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/
/** Keys are content hashes (sha256 hex of the image bytes), optionally with view suffixes such as '-aug3-1f2e3d4c'. */
const KEY = /^[a-f0-9]{16,128}(-[a-z0-9]{1,32}){0,3}$/
const LITTLE_ENDIAN = endianness() === 'LE'

/** Content-addressed feature vectors: `cache/features/<baseId>/<key>.bin`, float32 little-endian, written whole. */
export interface FeatureCache {
  /** The vector stored for this image under this base, or undefined (also for a damaged file). */
  get(baseId: string, key: string): Promise<Float32Array | undefined>
  put(baseId: string, key: string, vec: Float32Array): Promise<void>
}

/** The cache under `cache/features/` of the store, or directly under a local folder given its path. */
export function createFeatureCache(where: string | BlobStore): FeatureCache {
  const store = typeof where === 'string' ? localBlobStore(where) : scopedStore(where, 'cache/features')
  const file = (baseId: string, key: string) => {
    if (!BASE_ID.test(baseId)) throw new Error(`invalid base id for the feature cache: ${baseId}`)
    if (!KEY.test(key)) throw new Error(`invalid feature cache key (want a sha256 hex): ${key}`)
    return `${baseId}/${key}.bin`
  }
  return {
    async get(baseId, key) {
      const bytes = await store.get(file(baseId, key))
      if (!bytes || bytes.length === 0 || bytes.length % 4 !== 0) return undefined
      const vec = new Float32Array(bytes.length / 4)
      if (LITTLE_ENDIAN) new Uint8Array(vec.buffer).set(bytes)
      else for (let i = 0; i < vec.length; i++) vec[i] = bytes.readFloatLE(i * 4)
      return vec
    },
    async put(baseId, key, vec) {
      let bytes: Uint8Array
      if (LITTLE_ENDIAN) bytes = new Uint8Array(vec.buffer, vec.byteOffset, vec.byteLength)
      else {
        const b = Buffer.alloc(vec.length * 4)
        vec.forEach((v, i) => b.writeFloatLE(v, i * 4))
        bytes = b
      }
      await store.put(file(baseId, key), bytes)
    },
  }
}

/**
 * This process's disk in front of the shared cache: a hit on disk costs no request; a vector found in the shared
 * cache is kept on disk; a new one goes to both, so another worker does not extract it again.
 */
export function layeredFeatureCache(local: FeatureCache, shared: FeatureCache): FeatureCache {
  return {
    async get(baseId, key) {
      const near = await local.get(baseId, key)
      if (near) return near
      const far = await shared.get(baseId, key)
      if (far) await local.put(baseId, key, far)
      return far
    },
    async put(baseId, key, vec) {
      await Promise.all([local.put(baseId, key, vec), shared.put(baseId, key, vec)])
    },
  }
}
