import * as tf from '@tensorflow/tfjs'
import type { FeatureCache } from '../storage/features.js'
import type { Base } from './bases.js'
import { decodeImage, toInputTensor } from './image.js'
import { abortError } from './abort.js'

/** One image to embed: `key` is its content hash (the cache key), `read` fetches its encoded bytes. */
export interface FeatureItem {
  key: string
  read(): Promise<Uint8Array>
}

export interface ExtractOptions {
  cache: FeatureCache
  /**
   * Images per trunk call. Throughput barely depends on it on CPU, but the wasm heap grows to fit the largest
   * batch and never shrinks (~190 MB at 1, ~1 GB at 32 for MobileNetV2).
   * @defaultValue 16
   */
  batchSize?: number
  /** Pixel limit per image, see `decodeImage`. */
  maxPixels: number
  signal?: AbortSignal
  /**
   * Embeds decoded images somewhere else, e.g. `FeaturePool.embed` (threads); returns `[n × featureSize]`.
   * @defaultValue `base.embed` on this thread
   */
  embed?(pixels: Uint8Array[]): Promise<Float32Array>
  /** Called after each cache lookup round and each batch with images done so far. */
  onProgress?(done: number, total: number): void
}

/** How many cache files are read at once. */
const CACHE_READS = 32

/**
 * Embeds every item with the base's frozen trunk: cache hits skip decoding; misses are decoded (sharp, off the
 * main thread, the next batch while the current one runs) and embedded in batches, then cached.
 * @returns one `Float32Array(base.featureSize)` per item, in item order
 * @throws AbortError when `signal` aborts (between batches); AppError from decoding a bad image
 */
export async function extractFeatures(base: Base, items: FeatureItem[], opts: ExtractOptions): Promise<Float32Array[]> {
  const batchSize = Math.max(1, opts.batchSize ?? 16)
  const total = items.length
  const out: (Float32Array | undefined)[] = new Array(total)
  let done = 0

  for (let i = 0; i < total; i += CACHE_READS) {
    if (opts.signal?.aborted) throw abortError(opts.signal)
    const slice = items.slice(i, i + CACHE_READS)
    const hits = await Promise.all(slice.map((it) => opts.cache.get(base.id, it.key)))
    hits.forEach((vec, j) => {
      if (vec && vec.length === base.featureSize) {
        out[i + j] = vec
        done++
      }
    })
  }
  opts.onProgress?.(done, total)

  const missing = [...out.keys()].filter((i) => out[i] === undefined)
  const batches: number[][] = []
  for (let i = 0; i < missing.length; i += batchSize) batches.push(missing.slice(i, i + batchSize))

  const decode = (batch: number[]) =>
    Promise.all(batch.map(async (i) => decodeImage(await items[i]!.read(), base.inputSize, { maxPixels: opts.maxPixels })))

  let next = batches.length > 0 ? decode(batches[0]!) : undefined
  for (let b = 0; b < batches.length; b++) {
    const pixels = await next!
    if (opts.signal?.aborted) throw abortError(opts.signal)
    next = b + 1 < batches.length ? decode(batches[b + 1]!) : undefined
    next?.catch(() => {}) // surfaced when awaited; avoids an unhandled rejection if this batch throws first
    const batch = batches[b]!
    const flat = await (opts.embed ?? ((p: Uint8Array[]) => embedHere(base, p)))(pixels)
    const d = base.featureSize
    await Promise.all(
      batch.map((i, j) => {
        const vec = flat.slice(j * d, (j + 1) * d)
        out[i] = vec
        return opts.cache.put(base.id, items[i]!.key, vec)
      }),
    )
    done += batch.length
    opts.onProgress?.(done, total)
  }
  return out as Float32Array[]
}

/** Embeds decoded images with `base.embed` on this thread: `[n × featureSize]`. */
export async function embedHere(base: Base, pixels: Uint8Array[]): Promise<Float32Array> {
  const embedded = tf.tidy(() => base.embed(toInputTensor(pixels, base.inputSize, base.preprocessing)))
  try {
    return (await embedded.data()) as Float32Array
  } finally {
    embedded.dispose()
  }
}
