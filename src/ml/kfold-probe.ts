import * as tf from '@tensorflow/tfjs'
import { abortError } from './abort.js'
import { seededRandom, shuffleInPlace } from './random.js'
import { stratifiedSplit } from './split.js'

/**
 * Cross-validated linear probes on cached features: an L2-regularised softmax on standardised features, trained
 * full-batch from zero weights (so deterministic), once per fold. Cheap next to a job: no augmentation, no epochs
 * of mini-batches, one matrix product per step.
 */
export interface ProbeOptions {
  /** Folds; a class with fewer images than this simply misses some folds. @defaultValue 5 */
  folds?: number
  /** Seeds the fold assignment. */
  seed: number
  /** L2 penalty on the weights, per mean example loss. @defaultValue {@link PROBE_L2} */
  l2?: number
  /** Full-batch Adam steps per fold. @defaultValue {@link PROBE_STEPS} */
  steps?: number
  /**
   * Share of each fold's training rows the probe learns from, class by class (seeded), for learning curves.
   * @defaultValue 1
   */
  subsample?: number
  signal?: AbortSignal | undefined
}

export const PROBE_FOLDS = 5
/**
 * Chosen on two real sets with flipped labels (bench/label-issues.ts): at 0.01 the probes are over-confident and
 * flag twice as many clean images; at 1 they miss a third more flipped ones; 0.1 balances precision and recall.
 */
export const PROBE_L2 = 0.1
export const PROBE_STEPS = 60
const PROBE_LEARNING_RATE = 0.05
const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }

/**
 * Fold of each example, 0..folds-1: each class is shuffled (seeded) and dealt round-robin, so every fold holds
 * about its share of every class.
 */
export function assignFolds(labels: readonly number[], folds: number, seed: number): number[] {
  const byClass = new Map<number, number[]>()
  labels.forEach((label, i) => byClass.set(label, [...(byClass.get(label) ?? []), i]))
  const random = seededRandom(seed)
  const fold = new Array<number>(labels.length).fill(0)
  let offset = 0
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = shuffleInPlace(byClass.get(label)!, random)
    // Rotating the start keeps small classes from all landing in fold 0.
    members.forEach((i, k) => (fold[i] = (offset + k) % folds))
    offset += members.length
  }
  return fold
}

/**
 * Out-of-fold class probabilities: each example is scored by the probe trained on the other folds.
 * @param features one vector per example, all the same length
 * @param labels class index per example
 * @returns `[n][numClasses]` probabilities, in example order
 */
export function outOfFoldProbs(features: readonly Float32Array[], labels: readonly number[], numClasses: number, opts: ProbeOptions): Float32Array[] {
  const folds = Math.max(2, opts.folds ?? PROBE_FOLDS)
  const fold = assignFolds(labels, folds, opts.seed)
  const out = new Array<Float32Array>(features.length)
  for (let f = 0; f < folds; f++) {
    if (opts.signal?.aborted) throw abortError(opts.signal)
    const rest: number[] = []
    const held: number[] = []
    fold.forEach((k, i) => (k === f ? held : rest).push(i))
    if (held.length === 0) continue
    const subsample = opts.subsample ?? 1
    const train =
      subsample >= 1 ? rest : stratifiedSplit(rest.map((i) => labels[i]!), 1 - subsample, opts.seed + f).train.map((r) => rest[r]!)
    const probs = fitAndPredict(features, labels, numClasses, train, held, opts)
    held.forEach((i, r) => (out[i] = probs[r]!))
  }
  return out
}

/**
 * Trains a probe on the `train` rows and returns class probabilities for the `score` rows. Standardisation uses
 * the training rows' mean and spread only, so nothing of the scored rows leaks in.
 */
export function fitAndPredict(
  features: readonly Float32Array[],
  labels: readonly number[],
  numClasses: number,
  train: readonly number[],
  score: readonly number[],
  opts: Pick<ProbeOptions, 'l2' | 'steps'>,
): Float32Array[] {
  const d = features[0]?.length ?? 0
  const l2 = opts.l2 ?? PROBE_L2
  const steps = opts.steps ?? PROBE_STEPS
  const probs = tf.tidy(() => {
    const x = stack(features, train, d)
    const mean = x.mean(0)
    const std = x.sub(mean).square().mean(0).sqrt().add(1e-6)
    const xs = x.sub(mean).div(std) as tf.Tensor2D
    // Transposed once, not per step (wasm's matMul with transposeA is slower still).
    const xsT = xs.transpose()
    const y = tf.oneHot(tf.tensor1d(train.map((i) => labels[i]!), 'int32'), numClasses).toFloat() as tf.Tensor2D
    const n = train.length
    // Weights, bias and their Adam moments.
    let state: Record<'w' | 'b' | 'mw' | 'vw' | 'mb' | 'vb', tf.Tensor> = {
      w: tf.zeros([d, numClasses]),
      b: tf.zeros([numClasses]),
      mw: tf.zeros([d, numClasses]),
      vw: tf.zeros([d, numClasses]),
      mb: tf.zeros([numClasses]),
      vb: tf.zeros([numClasses]),
    }
    for (let t = 1; t <= steps; t++) {
      const { w, b, mw, vw, mb, vb } = state
      state = tf.tidy(() => {
        // Gradient of mean cross-entropy + l2/2 ‖w‖²: Xᵀ(p − y)/n + l2·w, and mean(p − y) for the bias.
        const err = tf.softmax(xs.matMul(w).add(b)).sub(y)
        const gw = xsT.matMul(err).div(n).add(w.mul(l2))
        const gb = err.mean(0)
        const adam = (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => {
          const m2 = m.mul(ADAM.beta1).add(g.mul(1 - ADAM.beta1))
          const v2 = v.mul(ADAM.beta2).add(g.square().mul(1 - ADAM.beta2))
          const update = m2.div(1 - ADAM.beta1 ** t).mul(PROBE_LEARNING_RATE).div(v2.div(1 - ADAM.beta2 ** t).sqrt().add(ADAM.epsilon))
          return [p.sub(update), m2, v2] as const
        }
        const [w2, mw2, vw2] = adam(w, gw, mw, vw)
        const [b2, mb2, vb2] = adam(b, gb, mb, vb)
        return { w: w2, b: b2, mw: mw2, vw: vw2, mb: mb2, vb: vb2 }
      })
      tf.dispose([w, b, mw, vw, mb, vb])
    }
    const xt = stack(features, score, d).sub(mean).div(std) as tf.Tensor2D
    return tf.softmax(xt.matMul(state.w).add(state.b))
  })
  try {
    const data = probs.dataSync() as Float32Array
    return score.map((_, r) => data.slice(r * numClasses, (r + 1) * numClasses))
  } finally {
    probs.dispose()
  }
}

function stack(features: readonly Float32Array[], rows: readonly number[], d: number): tf.Tensor2D {
  const flat = new Float32Array(rows.length * d)
  rows.forEach((i, r) => flat.set(features[i]!, r * d))
  return tf.tensor2d(flat, [rows.length, d])
}
