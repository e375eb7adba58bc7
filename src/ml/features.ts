import * as tf from '@tensorflow/tfjs'
import type { Base } from './bases.js'
import { decodeImage, toInputTensor } from './image.js'
import { abortError } from './abort.js'

/**
 * Where vectors are kept between jobs, by base (or net) id and image key; the store's feature cache fits it. A
 * damaged or missing entry reads as undefined.
 */
export interface FeatureCache {
  get(baseId: string, key: string): Promise<Float32Array | undefined>
  put(baseId: string, key: string, vec: Float32Array): Promise<void>
}

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
   * @defaultValue EXTRACT_BATCH
   */
  batchSize?: number
  /**
   * Trunk calls in flight at once: with `embed` on a thread pool, 2 keeps every thread fed while the results of
   * the last call are stored. @defaultValue EMBED_IN_FLIGHT
   */
  inFlight?: number
  /** Batches decoded ahead of the trunk (sharp, on libuv's threads). @defaultValue DECODE_AHEAD */
  decodeAhead?: number
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
  /** Sees each decoded miss (item index, pixels before any `transform`), e.g. to derive its thumbnail. */
  onDecoded?(index: number, pixels: Uint8Array): void
}

/** How many cache files are read at once. */
const CACHE_READS = 32
/** Images per trunk call (bench/features: flat from 8 to 32 on wasm; the heap grows with it). */
export const EXTRACT_BATCH = 16
/** Trunk calls in flight. */
export const EMBED_IN_FLIGHT = 2
/** Batches decoded ahead. */
export const DECODE_AHEAD = 2

/**
 * Embeds every item with the base's frozen trunk: cache hits skip decoding; misses flow through a pipeline:
 * sharp decodes `decodeAhead` batches ahead (off the main thread), up to `inFlight` batches run on the trunk at once
 * (on the feature pool's threads when `embed` is given, so no thread waits for another's sub-batch or for the
 * bookkeeping here), and cache writes go on in the background, awaited at the end.
 * @returns one `Float32Array(base.featureSize)` per item, in item order
 * @throws AbortError when `signal` aborts (between batches); AppError from decoding a bad image
 */
export async function extractFeatures(base: Base, items: FeatureItem[], opts: ExtractOptions): Promise<Float32Array[]> {
  const batchSize = Math.max(1, opts.batchSize ?? EXTRACT_BATCH)
  const inFlight = Math.max(1, opts.inFlight ?? EMBED_IN_FLIGHT)
  const ahead = Math.max(1, opts.decodeAhead ?? DECODE_AHEAD)
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

  const decoding: (Promise<Uint8Array[]> | undefined)[] = []
  const decode = (b: number) => {
    if (b >= batches.length || decoding[b]) return
    const batch = Promise.all(
      batches[b]!.map(async (i) => {
        const item = items[i]!
        const pixels = await decodeImage(await item.read(), base.inputSize, { maxPixels: opts.maxPixels })
        opts.onDecoded?.(i, pixels)
        return item.transform ? item.transform(pixels, base.inputSize) : pixels
      }),
    )
    batch.catch(() => {}) // surfaced when awaited; avoids an unhandled rejection if an earlier batch throws first
    decoding[b] = batch
  }
  const writes: Promise<void>[] = []
  const running = new Set<Promise<void>>()
  let failure: unknown
  const d = net.size

  for (let b = 0; b < batches.length; b++) {
    decode(b)
    const pixels = await decoding[b]!
    decoding[b] = undefined
    // The next ones only now: started together with this one, they shared the decoder with it and delayed it (the
    // first batch of a job waited 168–213 ms for its pixels with the trunk idle; decoded alone, 130–161 ms).
    for (let a = b + 1; a <= b + ahead; a++) decode(a)
    while (running.size >= inFlight && failure === undefined) await Promise.race(running)
    if (failure !== undefined) break
    if (opts.signal?.aborted) throw abortError(opts.signal)
    const batch = batches[b]!
    const task: Promise<void> = embed(pixels).then(
      (flat) => {
        running.delete(task)
        batch.forEach((i, j) => {
          const vec = flat.slice(j * d, (j + 1) * d)
          out[i] = vec
          writes.push(opts.cache.put(net.cacheId, items[i]!.key, vec).catch((err: unknown) => void (failure ??= err)))
        })
        done += batch.length
        opts.onProgress?.(done, total)
      },
      (err: unknown) => {
        running.delete(task)
        failure ??= err
      },
    )
    running.add(task)
  }
  await Promise.all(running)
  if (failure !== undefined) throw failure
  await Promise.all(writes)
  if (failure !== undefined) throw failure
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
