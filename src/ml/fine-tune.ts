import * as tf from '@tensorflow/tfjs'
import { TRAIN_DEFAULTS } from '../contract/jobs.js'
import { abortError } from './abort.js'
import { seededRandom, shuffleInPlace } from './random.js'
import { bestTracker, checkpointState, headLogits, makeOptimizer, optimizeBatch, restoreState, type EarlyStopping, type EpochLog, type HeadCheckpoint } from './train.js'
import type { TrunkSplit } from './trunk-split.js'

export interface FineTuneOptions {
  epochs: number
  batchSize: number
  /** Step size; callers pass a fraction of the head's so pretrained filters move gently. */
  learningRate: number
  optimizer?: 'adam' | 'sgd'
  labelSmoothing?: number
  /** Weight of each class in the loss, by class index. */
  classWeights?: number[] | undefined
  seed: number
  /** Number given to the first fine-tuning epoch in the logs (they continue the head's). */
  firstEpoch: number
  validation?: { activations: Float32Array[]; labels: number[] } | undefined
  /** Follows the same figure as the head's training; the best epoch's weights are kept (the start counts). */
  earlyStopping?: EarlyStopping | undefined
  signal?: AbortSignal | undefined
  onEpoch?(log: EpochLog): void
  /**
   * Continue from the state `onCheckpoint` gave after a fine-tuning epoch (`epoch` and `history` counting fine-tuning
   * epochs only), as if it had never stopped: the head's and tuned layers' variables come from it.
   */
  resumeFrom?: HeadCheckpoint | undefined
  /** Called (and awaited) after each epoch's `onEpoch` with everything needed to resume after it. */
  onCheckpoint?(state: HeadCheckpoint): Promise<void> | void
}

/**
 * Trains the split's tuned top layers together with the head, from cached activations at the cut. The top runs in
 * inference mode (BatchNorm uses its stored statistics; its weights stay fixed) and the head without dropout (its frozen standardisation included).
 * Keeps the weights of the best epoch by the monitored validation figure, counting the state before fine-tuning,
 * so fine-tuning never leaves the model worse on validation than the head alone.
 * @param activations one flattened `split.activationShape` per training example
 * @returns one log per epoch run and the epoch whose weights are kept (null when it is the starting state)
 */
export async function fineTune(
  split: TrunkSplit,
  /** From `trainHead`; its dense layers' weights are trained in place. */
  head: tf.LayersModel,
  activations: Float32Array[],
  labels: number[],
  numClasses: number,
  opts: FineTuneOptions,
): Promise<{ history: EpochLog[]; bestEpoch: number | null }> {
  const n = activations.length
  if (n === 0) throw new RangeError('no training activations')
  const headOps = headLogits(head)
  const trainable = [...split.tuned.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable)), ...headOps.variables]
  const batchSize = Math.max(1, Math.min(opts.batchSize, n))
  const smoothing = opts.labelSmoothing ?? TRAIN_DEFAULTS.labelSmoothing
  const optimizer = makeOptimizer(opts.optimizer, opts.learningRate)
  const resume = opts.resumeFrom
  const random = seededRandom(resume ? resume.random : opts.seed ^ 0xf17e)
  const order = resume ? [...resume.order] : [...Array(n).keys()]
  const history: EpochLog[] = resume ? [...resume.history] : []
  const hasValidation = (opts.validation?.activations.length ?? 0) > 0
  const tracker = bestTracker(opts.earlyStopping ?? { patience: Infinity }, resume?.tracker)
  let best: tf.Tensor[] | undefined

  /** Logits of the top part + head; the top in inference mode. */
  const forward = (x: tf.Tensor): tf.Tensor2D => headOps.logits(split.top.apply(x, { training: false }) as tf.Tensor2D)
  const loss = (logits: tf.Tensor2D, y: tf.Tensor2D, weights?: tf.Tensor1D) =>
    tf.losses.softmaxCrossEntropy(y, logits, weights, smoothing) as tf.Scalar
  const batchOf = (rows: Float32Array[], idx: number[]) => {
    const d = rows[0]!.length
    const flat = new Float32Array(idx.length * d)
    idx.forEach((i, k) => flat.set(rows[i]!, k * d))
    return tf.tensor(flat, [idx.length, ...split.activationShape])
  }
  const oneHot = (ls: number[]) => tf.oneHot(tf.tensor1d(ls, 'int32'), numClasses).toFloat() as tf.Tensor2D

  const validate = async (): Promise<Pick<EpochLog, 'valLoss' | 'valAccuracy'>> => {
    const val = opts.validation
    if (!val || val.activations.length === 0) return {}
    let lossSum = 0
    let hits = 0
    for (let start = 0; start < val.labels.length; start += batchSize) {
      const idx = [...Array(Math.min(batchSize, val.labels.length - start)).keys()].map((k) => start + k)
      const [l, h] = tf.tidy(() => {
        const logits = forward(batchOf(val.activations, idx))
        const y = oneHot(idx.map((i) => val.labels[i]!))
        return [tf.mul(loss(logits, y), idx.length), tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)).toFloat())]
      })
      lossSum += (await l.data())[0]!
      hits += (await h.data())[0]!
      l.dispose()
      h.dispose()
    }
    return { valLoss: lossSum / val.labels.length, valAccuracy: hits / val.labels.length }
  }

  try {
    if (resume) {
      best = await restoreState(resume, { trainable, optimizer, examples: n, what: 'this fine-tuning (other activations, layers or options)' })
    } else if (tracker.observe({ epoch: opts.firstEpoch - 1, ...(await validate()) }) === 'improved') {
      // The starting state competes: fine-tuning must beat the head alone to be kept.
      best = trainable.map((v) => v.clone())
    }
    for (let e = resume?.epoch ?? 0; e < opts.epochs; e++) {
      const started = performance.now()
      shuffleInPlace(order, random)
      let lossSum = 0
      let correct = 0
      for (let start = 0; start < n; start += batchSize) {
        if (opts.signal?.aborted) throw abortError(opts.signal)
        const idx = order.slice(start, start + batchSize)
        const step = await optimizeBatch(optimizer, trainable, () => {
          const xb = batchOf(activations, idx)
          const weights = opts.classWeights ? tf.tensor1d(idx.map((i) => opts.classWeights![labels[i]!]!)) : undefined
          return { targets: oneHot(idx.map((i) => labels[i]!)), logits: () => forward(xb), loss: (logits, targets) => loss(logits, targets, weights) }
        })
        lossSum += step.loss * idx.length
        correct += step.hits
      }
      const log: EpochLog = {
        epoch: opts.firstEpoch + e,
        phase: 'fineTune',
        loss: lossSum / n,
        accuracy: correct / n,
        ...(await validate()),
        learningRate: opts.learningRate,
        seconds: 0,
      }
      log.seconds = (performance.now() - started) / 1000
      history.push(log)
      opts.onEpoch?.(log)
      const verdict = tracker.observe(log)
      if (verdict === 'improved') {
        best?.forEach((w) => w.dispose())
        best = trainable.map((v) => v.clone())
      } else if (verdict === 'stop') break
      if (opts.onCheckpoint) {
        await opts.onCheckpoint(await checkpointState({ epoch: e + 1, history, trainable, optimizer, order, random, tracker, best }))
      }
    }
    if (best) trainable.forEach((v, i) => v.assign(best![i]!))
    // Without validation nothing is compared and the last epoch's weights stay.
    const bestEpoch = hasValidation ? tracker.bestEpoch() : history.at(-1)!.epoch
    return { history, bestEpoch: bestEpoch !== null && bestEpoch >= opts.firstEpoch ? bestEpoch : null }
  } finally {
    best?.forEach((w) => w.dispose())
    optimizer.dispose()
    headOps.dispose()
  }
}
