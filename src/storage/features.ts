import { readFile } from 'node:fs/promises'
import { endianness } from 'node:os'
import { writeFileAtomic } from './atomic.js'
import { safeJoin } from './layout.js'

/** Base ids: 'mobilenet_v2', 'mobilenet_v3_coco', 'url-<hex>'. */
const BASE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/
/** Keys are content hashes (sha256 hex of the image bytes), optionally with view suffixes such as '-aug3-1f2e3d4c'. */
const KEY = /^[a-f0-9]{16,128}(-[a-z0-9]{1,32}){0,3}$/
const LITTLE_ENDIAN = endianness() === 'LE'

/** Content-addressed feature vectors: `<dir>/<baseId>/<key>.bin`, float32 little-endian, written atomically. */
export interface FeatureCache {
  /** The vector stored for this image under this base, or undefined (also for a damaged file). */
  get(baseId: string, key: string): Promise<Float32Array | undefined>
  put(baseId: string, key: string, vec: Float32Array): Promise<void>
}

export function createFeatureCache(dir: string): FeatureCache {
  const file = (baseId: string, key: string) => {
    if (!BASE_ID.test(baseId)) throw new Error(`invalid base id for the feature cache: ${baseId}`)
    if (!KEY.test(key)) throw new Error(`invalid feature cache key (want a sha256 hex): ${key}`)
    return safeJoin(dir, baseId, `${key}.bin`)
  }
  return {
    async get(baseId, key) {
      let bytes: Buffer
      try {
        bytes = await readFile(file(baseId, key))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw err
      }
      if (bytes.length === 0 || bytes.length % 4 !== 0) return undefined
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
      await writeFileAtomic(file(baseId, key), bytes)
    },
  }
}
