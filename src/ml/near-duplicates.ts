import * as tf from '@tensorflow/tfjs'
import { abortError } from './abort.js'

/** Two examples whose embeddings point the same way. */
export interface NearDuplicatePair {
  /** Example indices, a < b. */
  a: number
  b: number
  /** The higher score of the tests that fired (see {@link findNearDuplicates}), at most 1. */
  similarity: number
}

/**
 * Cosine similarity of centred base features at or above which two images count as one picture. High, because
 * with the bundled MobileNetV2 the features of distinct pictures of one kind (two similar digits, two flags) come
 * within 0.95 of each other while a resized or re-encoded copy's features move further than that: on two real sets
 * (bench/label-issues.ts, docs/benchmarks.md) this test alone found 0–7 % of such copies, the pixel test below
 * found them. Re-measure it with the bench when the default base changes.
 */
export const EMBEDDING_THRESHOLD = 0.98
/**
 * Normalised cross-correlation of pixel thumbnails (see `thumbnails.ts`: whole vs whole, and centre vs whole
 * both ways for slight crops) at or above which two images count as one picture.
 */
export const PIXEL_THRESHOLD = 0.99
/** Pairs reported at most (the most similar ones). */
export const MAX_NEAR_DUPLICATES = 500
/**
 * Images compared at most: the comparison is n² dot products (n = 10,000: 50 M pairs, about a minute of matrix
 * products on 2 CPU cores with 1280-d features); larger sets skip it with a warning.
 */
export const MAX_NEAR_DUPLICATE_IMAGES = 10_000
/** Rows per similarity block: a block holds BLOCK_ROWS × n similarities per test (5 MB at n = 5,000). */
const BLOCK_ROWS = 256

export interface NearDuplicateOptions {
  /** @defaultValue {@link EMBEDDING_THRESHOLD} */
  embeddingThreshold?: number
  /** @defaultValue {@link PIXEL_THRESHOLD} */
  pixelThreshold?: number
  /** @defaultValue {@link MAX_NEAR_DUPLICATES} */
  max?: number
  signal?: AbortSignal | undefined
}

/**
 * Pairs of examples that are one picture by either test, most similar first: centred, L2-normalised base
 * features with cosine ≥ `embeddingThreshold`, or pixel thumbnails correlating ≥ `pixelThreshold`. `similarity`
 * is the higher score of the tests that fired. Centring the features on the set's mean matters: raw post-ReLU
 * features all share a large positive mean, which makes any two images look alike. Similarities are computed in
 * blocks of rows, never held whole.
 * @param features base features per example
 * @param thumbnails `thumbnailDescriptor`s per example; without them only the embedding test runs
 */
export function findNearDuplicates(
  features: readonly Float32Array[],
  thumbnails: readonly Float32Array[] | undefined,
  opts: NearDuplicateOptions = {},
): NearDuplicatePair[] {
  const te = opts.embeddingThreshold ?? EMBEDDING_THRESHOLD
  const tp = opts.pixelThreshold ?? PIXEL_THRESHOLD
  const max = opts.max ?? MAX_NEAR_DUPLICATES
  const n = features.length
  if (n < 2) return []
  const unit = tf.tidy(() => {
    const x = matrix(features)
    const centred = x.sub(x.mean(0))
    // A zero vector (an image equal to the mean) has no direction; the epsilon keeps it at similarity 0.
    return centred.div(centred.norm('euclidean', 1, true).add(1e-12)) as tf.Tensor2D
  })
  const half = (thumbnails?.[0]?.length ?? 0) / 2
  const pixels = thumbnails && tf.tidy(() => {
    const t = matrix(thumbnails)
    return { whole: t.slice([0, 0], [n, half]), centre: t.slice([0, half], [n, half]) }
  })
  let pairs: NearDuplicatePair[] = []
  try {
    for (let start = 0; start < n; start += BLOCK_ROWS) {
      if (opts.signal?.aborted) throw abortError(opts.signal)
      const rows = Math.min(BLOCK_ROWS, n - start)
      const [embedded, pixel] = tf.tidy(() => {
        const e = unit.slice([start, 0], [rows, -1]).matMul(unit, false, true)
        if (!pixels) return [e]
        const w = pixels.whole.slice([start, 0], [rows, -1])
        const c = pixels.centre.slice([start, 0], [rows, -1])
        // Whole vs whole, and a centre vs the other's whole: the second catches a slightly cropped copy.
        const p = tf.maximum(tf.maximum(w.matMul(pixels.whole, false, true), c.matMul(pixels.whole, false, true)), w.matMul(pixels.centre, false, true))
        return [e, p]
      })
      const e = embedded!.dataSync() as Float32Array
      const p = pixel?.dataSync() as Float32Array | undefined
      tf.dispose(pixel ? [embedded!, pixel] : [embedded!])
      for (let r = 0; r < rows; r++) {
        const a = start + r
        for (let b = a + 1; b < n; b++) {
          const se = e[r * n + b]!
          const sp = p ? p[r * n + b]! : -1
          const similarity = Math.max(se >= te ? se : -1, sp >= tp ? sp : -1)
          if (similarity > -1) pairs.push({ a, b, similarity })
        }
      }
      // A set of many copies must not grow the list without bound.
      if (pairs.length > 4 * max) pairs = bestFirst(pairs).slice(0, max)
    }
  } finally {
    tf.dispose([unit, ...(pixels ? [pixels.whole, pixels.centre] : [])])
  }
  return bestFirst(pairs).slice(0, max)
}

function matrix(rows: readonly Float32Array[]): tf.Tensor2D {
  const d = rows[0]?.length ?? 0
  const flat = new Float32Array(rows.length * d)
  rows.forEach((f, i) => flat.set(f, i * d))
  return tf.tensor2d(flat, [rows.length, d])
}

function bestFirst(pairs: NearDuplicatePair[]): NearDuplicatePair[] {
  return pairs.sort((x, y) => y.similarity - x.similarity || x.a - y.a || x.b - y.b)
}
