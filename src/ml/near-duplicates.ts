import * as tf from '@tensorflow/tfjs'
import { abortError } from './abort.js'

/** Two examples whose embeddings point the same way. */
export interface NearDuplicatePair {
  /** Example indices, a < b. */
  a: number
  b: number
  /** Cosine similarity of the centred embeddings, in [-1, 1]. */
  similarity: number
}

/**
 * Cosine similarity of centred base features at or above which two images count as copies of one picture.
 * Measured by bench/label-issues.ts with the bundled MobileNetV2 on two real sets: resized (½), re-encoded
 * (JPEG q60) and slightly cropped (90 % centre) copies score above it, pairs of distinct images below it; see
 * docs/benchmarks.md for the figures.
 */
export const NEAR_DUPLICATE_THRESHOLD = 0.9
/** Pairs reported at most (the most similar ones). */
export const MAX_NEAR_DUPLICATES = 500
/**
 * Images compared at most: the comparison is n² dot products (n = 10,000: 50 M pairs, about a minute of matrix
 * products on 2 CPU cores with 1280-d features); larger sets skip it with a warning.
 */
export const MAX_NEAR_DUPLICATE_IMAGES = 10_000
/** Rows per similarity block: a block holds BLOCK_ROWS × n similarities (5 MB at n = 5,000). */
const BLOCK_ROWS = 256

/**
 * Pairs of examples whose centred, L2-normalised features have cosine similarity ≥ `threshold`, most similar first.
 * Centring on the set's mean matters: raw post-ReLU features all share a large positive mean, which makes any two
 * images look alike. The n × n similarities are computed in blocks of rows, never held whole.
 */
export function findNearDuplicates(
  features: readonly Float32Array[],
  opts: { threshold?: number; max?: number; signal?: AbortSignal | undefined } = {},
): NearDuplicatePair[] {
  const threshold = opts.threshold ?? NEAR_DUPLICATE_THRESHOLD
  const max = opts.max ?? MAX_NEAR_DUPLICATES
  const n = features.length
  const d = features[0]?.length ?? 0
  if (n < 2) return []
  const flat = new Float32Array(n * d)
  features.forEach((f, i) => flat.set(f, i * d))
  const unit = tf.tidy(() => {
    const x = tf.tensor2d(flat, [n, d])
    const centred = x.sub(x.mean(0))
    // A zero vector (an image equal to the mean) has no direction; the epsilon keeps it at similarity 0.
    return centred.div(centred.norm('euclidean', 1, true).add(1e-12)) as tf.Tensor2D
  })
  let pairs: NearDuplicatePair[] = []
  try {
    for (let start = 0; start < n; start += BLOCK_ROWS) {
      if (opts.signal?.aborted) throw abortError(opts.signal)
      const rows = Math.min(BLOCK_ROWS, n - start)
      const block = tf.tidy(() => unit.slice([start, 0], [rows, d]).matMul(unit, false, true))
      const sims = block.dataSync() as Float32Array
      block.dispose()
      for (let r = 0; r < rows; r++) {
        const a = start + r
        for (let b = a + 1; b < n; b++) {
          const similarity = sims[r * n + b]!
          if (similarity >= threshold) pairs.push({ a, b, similarity })
        }
      }
      // A set of many copies must not grow the list without bound.
      if (pairs.length > 4 * max) pairs = bestFirst(pairs).slice(0, max)
    }
  } finally {
    unit.dispose()
  }
  return bestFirst(pairs).slice(0, max)
}

function bestFirst(pairs: NearDuplicatePair[]): NearDuplicatePair[] {
  return pairs.sort((x, y) => y.similarity - x.similarity || x.a - y.a || x.b - y.b)
}
