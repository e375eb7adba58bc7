import * as tf from '@tensorflow/tfjs'
import type { FeatureCache } from '../storage/features.js'
import type { Base } from './bases.js'
import { decodeImage, toInputTensor } from './image.js'
import { abortError } from './abort.js'

/**
 * One image to embed: `key` is its cache key (the content hash, with a view suffix for augmented views), `read`
 * fetches its encoded bytes.
 */
export interface FeatureItem {
  key: string
  read(): Promise<Uint8Array>
  /** Changes the decoded `size × size × 3` pixels before embedding (an augmented view). */
  transform?(pixels: Uint8Array, size: number): Promise<Uint8Array>
}

/** A net to embed with instead of the base's trunk, e.g. the frozen part below a fine-tuning cut. */
export interface EmbeddingNet {
  /** Preprocessed image → `[n, ...]` outputs, flattened per image. */
  model: tf.LayersModel
  /** Values per image. */
  size: number
  /** Cache folder name; must differ from the base's and any other net's. */
  cacheId: string
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
  signal?: AbortSignal | undefined
  /** @defaultValue the base's trunk, cached under the base id */
  net?: EmbeddingNet | undefined
  /**
   * Embeds decoded images with the base somewhere else, e.g. `FeaturePool.embed` (threads); returns
   * `[n × featureSize]`. Not used with `net`.
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
  const net = opts.net ?? { size: base.featureSize, cacheId: base.id }
  const embed = opts.net ? (pixels: Uint8Array[]) => embedWith(opts.net!.model, base, pixels) : (opts.embed ?? ((pixels: Uint8Array[]) => embedHere(base, pixels)))
  const total = items.length
  const out: (Float32Array | undefined)[] = new Array(total)
  let done = 0

  for (let i = 0; i < total; i += CACHE_READS) {
    if (opts.signal?.aborted) throw abortError(opts.signal)
    const slice = items.slice(i, i + CACHE_READS)
    const hits = await Promise.all(slice.map((it) => opts.cache.get(net.cacheId, it.key)))
    hits.forEach((vec, j) => {
      if (vec && vec.length === net.size) {
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
    Promise.all(
      batch.map(async (i) => {
        const item = items[i]!
        const pixels = await decodeImage(await item.read(), base.inputSize, { maxPixels: opts.maxPixels })
        return item.transform ? item.transform(pixels, base.inputSize) : pixels
      }),
    )

  let next = batches.length > 0 ? decode(batches[0]!) : undefined
  for (let b = 0; b < batches.length; b++) {
    const pixels = await next!
    if (opts.signal?.aborted) throw abortError(opts.signal)
    next = b + 1 < batches.length ? decode(batches[b + 1]!) : undefined
    next?.catch(() => {}) // surfaced when awaited; avoids an unhandled rejection if this batch throws first
    const batch = batches[b]!
    const flat = await embed(pixels)
    const d = net.size
    await Promise.all(
      batch.map((i, j) => {
        const vec = flat.slice(j * d, (j + 1) * d)
        out[i] = vec
        return opts.cache.put(net.cacheId, items[i]!.key, vec)
      }),
    )
    done += batch.length
    opts.onProgress?.(done, total)
  }
  return out as Float32Array[]
}

/** Embeds decoded images with `base.embed` (the fast trunk where it compiled) on this thread: `[n × featureSize]`. */
export function embedHere(base: Base, pixels: Uint8Array[]): Promise<Float32Array> {
  return flatData(tf.tidy(() => base.embed(toInputTensor(pixels, base.inputSize, base.preprocessing))))
}

/** Embeds decoded images with another net on this thread, flattened per image. */
function embedWith(model: tf.LayersModel, base: Base, pixels: Uint8Array[]): Promise<Float32Array> {
  return flatData(tf.tidy(() => model.predict(toInputTensor(pixels, base.inputSize, base.preprocessing)) as tf.Tensor))
}

async function flatData(tensor: tf.Tensor): Promise<Float32Array> {
  try {
    return (await tensor.data()) as Float32Array
  } finally {
    tensor.dispose()
  }
}
