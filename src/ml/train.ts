import * as tf from '@tensorflow/tfjs'
import { TRAIN_DEFAULTS, type EpochRecord } from '../contract/jobs.js'
import { abortError } from './abort.js'
import { seededRandom, shuffleInPlace } from './random.js'

/** One epoch's figures as training records them: the contract's record, always with its learning rate. */
export type EpochLog = EpochRecord & { learningRate: number }

/** Which validation figure early stopping and the best epoch follow. */
export type Monitor = 'valLoss' | 'valAccuracy'

export interface EarlyStopping {
  /** Epochs without improvement before training stops. */
  patience: number
  /** @defaultValue 'valLoss' */
  monitor?: Monitor
  /** Smallest change of the monitored figure that counts as an improvement. @defaultValue 0 */
  minDelta?: number
}

/** Momentum of the 'sgd' optimizer (classical, not Nesterov). */
export const SGD_MOMENTUM = 0.9

export interface TrainHeadOptions {
  epochs: number
  batchSize: number
  /** Optimizer step size. */
  learningRate: number
  /** 'adam', or 'sgd' with momentum `SGD_MOMENTUM`. @defaultValue 'adam' */
  optimizer?: 'adam' | 'sgd'
  /** Share of each one-hot target spread evenly over all classes, in [0, 1). @defaultValue 0 */
  labelSmoothing?: number
  /** Width of the hidden ReLU layer; 0 trains a plain softmax (logistic regression) on the features. @defaultValue 128 */
  hiddenUnits?: number
  /** Dropout rate after the hidden layer, in [0, 1). @defaultValue 0.2 */
  dropout?: number
  /** L2 penalty on the kernels, added to the loss. @defaultValue 0 */
  l2?: number
  /**
   * Standardise each feature (z-score with the training set's mean and variance) in a frozen BatchNormalization
   * layer at the head's input, so the saved model applies the same scaling. Steadier across seeds.
   * @defaultValue true
   */
  standardize?: boolean
  /** Loss weight per class index (`resolveClassWeights` in train-classifier.ts gives them by name). */
  classWeights?: number[]
  /** Seeds initialisers, shuffling and dropout masks: same seed, data and backend → same head. */
  seed: number
  validation?: { features: Float32Array[]; labels: number[] }
  /** Stop when the monitored figure has not improved for `patience` epochs, and keep the best epoch's weights. */
  earlyStopping?: EarlyStopping
  signal?: AbortSignal
  onEpoch?(log: EpochLog): void
  /** Continue a run from the state `onCheckpoint` gave after an epoch, as if it had never stopped. */
  resumeFrom?: HeadCheckpoint
  /** Called (and awaited) after each epoch's `onEpoch` with everything needed to resume after it. */
  onCheckpoint?(state: HeadCheckpoint): Promise<void> | void
}

/** What `bestTracker` remembers between epochs. */
export interface TrackerState {
  best?: { epoch: number; value: number }
  /** Epochs since the best. */
  since: number
}

/**
 * A head's training state after an epoch. Arrays are copies; resuming with the same features, labels and options
 * gives the same head as an uninterrupted run.
 */
export interface HeadCheckpoint {
  /** Epochs done. */
  epoch: number
  history: EpochLog[]
  /** Trainable variables (hidden kernel and bias when there is a hidden layer, then the output's), flat. */
  weights: Float32Array[]
  /** The optimizer's state as `optimizer.getWeights()` orders it: iteration count, then its slots per variable. */
  optimizer: Float32Array[]
  /** The example order after the epoch's shuffle; each epoch shuffles the previous order again. */
  order: number[]
  /** State of the seeded generator behind shuffles and dropout masks. */
  random: number
  tracker: TrackerState
  /** Early stopping's best epoch's weights, when early stopping is on and an epoch improved. */
  bestWeights?: Float32Array[]
  /**
   * Set once the head is trained and fine-tuning has begun: then `epoch` and `history` count the head's epochs and the
   * fine-tuning ones, and the arrays are fine-tuning's (tuned layers' and head's variables, see `fineTune`).
   */
  fineTune?: { headEpochs: number; headBestEpoch: number | null }
}

/**
 * Puts a checkpoint back into the live variables and optimizer, the inverse of `checkpointState`.
 * @returns the early-stopping best weights it carried (the caller disposes them), if any
 * @throws RangeError when the checkpoint's shapes do not fit (`what` names the loop in the message)
 */
export async function restoreState(
  resume: HeadCheckpoint,
  live: { trainable: tf.Variable[]; optimizer: tf.Optimizer; examples: number; what: string },
): Promise<tf.Tensor[] | undefined> {
  const { trainable } = live
  if (resume.order.length !== live.examples || resume.weights.length !== trainable.length || resume.weights.some((w, i) => w.length !== trainable[i]!.size)) {
    throw new RangeError(`the checkpoint does not fit ${live.what}`)
  }
  tf.tidy(() => trainable.forEach((v, i) => v.assign(tf.tensor(resume.weights[i]!, v.shape))))
  const best = resume.bestWeights?.map((w, i) => tf.tensor(w, trainable[i]!.shape))
  await restoreOptimizer(live.optimizer, resume.optimizer, trainable)
  return best
}

/** The live training state after an epoch; `checkpointState` copies it out. */
export interface LiveTrainingState {
  epoch: number
  history: readonly EpochLog[]
  trainable: readonly tf.Tensor[]
  optimizer: tf.Optimizer
  order: readonly number[]
  random: { readonly state: number }
  tracker: { state(): TrackerState }
  best?: readonly tf.Tensor[] | undefined
}

/** A checkpoint of the head or fine-tuning loop: every tensor copied to plain arrays, nothing left allocated. */
export async function checkpointState(live: LiveTrainingState): Promise<HeadCheckpoint> {
  const flat = (ts: readonly tf.Tensor[]) => Promise.all(ts.map(async (t) => Float32Array.from(await t.data())))
  const slots = await live.optimizer.getWeights()
  const state: HeadCheckpoint = {
    epoch: live.epoch,
    history: [...live.history],
    weights: await flat(live.trainable),
    optimizer: await flat(slots.map((w) => w.tensor)),
    order: [...live.order],
    random: live.random.state,
    tracker: live.tracker.state(),
    ...(live.best && { bestWeights: await flat(live.best) }),
  }
  slots[0]?.tensor.dispose() // the iteration count is a fresh scalar; the other slots are the optimizer's own
  return state
}

/** Layer names of the head; the export step splices them onto the trunk, so they must not clash with its names. */
export const HEAD_LAYERS = { input: 'head_input', norm: 'head_norm', hidden: 'head_hidden', dropout: 'head_dropout', output: 'head_output' } as const

/**
 * Trains a classifier head on fixed feature vectors: Dense(relu) → Dropout → Dense(softmax), Adam on
 * categorical cross-entropy. The loop is our own rather than `model.fit` so shuffling and dropout masks come
 * from a seeded generator (tfjs's come from Math.random, and a seeded tf.dropout repeats one mask).
 * @param features `[n][d]` vectors
 * @param labels class index per vector, in [0, numClasses)
 * @returns the head (`[n, d]` → `[n, numClasses]` probabilities; caller disposes) and one log per epoch run
 * @throws AbortError when `signal` aborts (checked every batch); nothing is leaked
 */
export async function trainHead(
  features: Float32Array[],
  labels: number[],
  numClasses: number,
  opts: TrainHeadOptions,
): Promise<{ head: tf.LayersModel; history: EpochLog[]; bestEpoch: number | null }> {
  const n = features.length
  const d = features[0]?.length ?? 0
  if (n === 0 || d === 0) throw new RangeError('no training features')
  if (labels.length !== n) throw new RangeError(`${n} features but ${labels.length} labels`)
  if (labels.some((l) => !(Number.isInteger(l) && l >= 0 && l < numClasses))) throw new RangeError('label out of range')
  const hiddenUnits = opts.hiddenUnits ?? TRAIN_DEFAULTS.hiddenUnits
  const rate = opts.dropout ?? TRAIN_DEFAULTS.dropout
  const l2 = opts.l2 ?? 0
  const batchSize = Math.max(1, Math.min(opts.batchSize, n))

  const standardize = opts.standardize ?? true
  const stats = standardize ? moments(features) : undefined
  const head = buildHead(d, numClasses, hiddenUnits, rate, opts.seed, stats)
  const hidden = hiddenUnits > 0 ? variables(head, HEAD_LAYERS.hidden) : undefined
  const output = variables(head, HEAD_LAYERS.output)
  const trainable = [...(hidden ? [hidden.kernel, hidden.bias] : []), output.kernel, output.bias]

  const logitsOf = (x: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D => {
    let h = x
    if (hidden) {
      h = tf.relu(tf.add(tf.matMul(x, hidden.kernel), hidden.bias))
      if (mask) h = tf.mul(h, mask)
    }
    return tf.add(tf.matMul(h, output.kernel), output.bias)
  }
  const penalty = () => (l2 > 0 ? tf.mul(l2, tf.addN(trainable.filter((_, i) => i % 2 === 0).map((k) => tf.sum(tf.square(k))))) : undefined)

  const exampleWeights = classWeightsFor(labels, numClasses, opts.classWeights)
  // Training works on standardised copies; the head's frozen norm layer does the same at inference.
  const xs = tf.tensor2d(concat(features, stats), [n, d])
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat()) as tf.Tensor2D
  const val =
    opts.validation && opts.validation.features.length > 0
      ? {
          xs: tf.tensor2d(concat(opts.validation.features, stats), [opts.validation.features.length, d]),
          ys: tf.tidy(() => tf.oneHot(tf.tensor1d(opts.validation!.labels, 'int32'), numClasses).toFloat()) as tf.Tensor2D,
        }
      : undefined
  const optimizer = makeOptimizer(opts.optimizer, opts.learningRate)
  const smoothing = opts.labelSmoothing ?? TRAIN_DEFAULTS.labelSmoothing
  const resume = opts.resumeFrom
  const random = seededRandom(resume ? resume.random : opts.seed ^ 0x5eed)
  const order = resume ? [...resume.order] : [...Array(n).keys()]
  const history: EpochLog[] = resume ? [...resume.history] : []
  const tracker = bestTracker(opts.earlyStopping, resume?.tracker)
  let best: tf.Tensor[] | undefined

  try {
    if (resume) best = await restoreState(resume, { trainable, optimizer, examples: n, what: 'this head (other features, classes or options)' })
    for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= opts.epochs; epoch++) {
      const started = performance.now()
      shuffleInPlace(order, random)
      let lossSum = 0
      let correct = 0
      for (let start = 0; start < n; start += batchSize) {
        if (opts.signal?.aborted) {
          head.stopTraining = true
          throw abortError(opts.signal)
        }
        const idx = order.slice(start, start + batchSize)
        const mask = hidden && rate > 0 ? dropoutMask(idx.length, hiddenUnits, rate, random) : undefined
        const step = await optimizeBatch(optimizer, trainable, () => {
          const index = tf.tensor1d(idx, 'int32')
          const xb = tf.gather(xs, index)
          const weights = exampleWeights ? tf.tensor1d(idx.map((i) => exampleWeights[i]!)) : undefined
          const maskT = mask ? tf.tensor2d(mask, [idx.length, hiddenUnits]) : undefined
          return {
            targets: tf.gather(ys, index),
            logits: () => logitsOf(xb, maskT),
            loss: (logits, targets) => {
              const ce = tf.losses.softmaxCrossEntropy(targets, logits, weights, smoothing)
              const p = penalty()
              return (p ? tf.add(ce, p) : ce) as tf.Scalar
            },
          }
        })
        lossSum += step.loss * idx.length
        correct += step.hits
      }
      const log: EpochLog = { epoch, loss: lossSum / n, accuracy: correct / n, learningRate: opts.learningRate, seconds: 0 }
      if (val) {
        const [vl, va] = tf.tidy(() => {
          const logits = logitsOf(val.xs)
          return [
            tf.losses.softmaxCrossEntropy(val.ys, logits),
            tf.mean(tf.equal(tf.argMax(logits, 1), tf.argMax(val.ys, 1)).toFloat()),
          ]
        })
        log.valLoss = (await vl.data())[0]!
        log.valAccuracy = (await va.data())[0]!
        vl.dispose()
        va.dispose()
      }
      log.seconds = (performance.now() - started) / 1000
      history.push(log)
      opts.onEpoch?.(log)

      const verdict = tracker.observe(log)
      if (opts.earlyStopping && verdict === 'improved') {
        best?.forEach((w) => w.dispose())
        best = trainable.map((v) => v.clone())
      }
      const stop = Boolean(opts.earlyStopping) && verdict === 'stop'
      if (opts.onCheckpoint && !stop) {
        await opts.onCheckpoint(await checkpointState({ epoch, history, trainable, optimizer, order, random, tracker, best }))
      }
      if (stop) break
    }
    if (best) trainable.forEach((v, i) => v.assign(best![i]!))
    return { head, history, bestEpoch: tracker.bestEpoch() }
  } catch (err) {
    head.dispose()
    throw err
  } finally {
    best?.forEach((w) => w.dispose())
    optimizer.dispose()
    xs.dispose()
    ys.dispose()
    val?.xs.dispose()
    val?.ys.dispose()
  }
}

/** One batch of a training step: one-hot targets, the forward pass, and the loss to minimise. */
export interface TrainingBatch {
  targets: tf.Tensor2D
  logits(): tf.Tensor2D
  loss(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar
}

/**
 * One optimizer step over `trainable` on the batch that `makeBatch` builds (inside a tidy, so its tensors go), then
 * a yield to the event loop so abort signals, progress and lock renewals get through.
 * @returns the batch's mean loss and how many of its examples the pre-step logits got right
 */
export async function optimizeBatch(optimizer: tf.Optimizer, trainable: tf.Variable[], makeBatch: () => TrainingBatch): Promise<{ loss: number; hits: number }> {
  const [cost, hits] = tf.tidy(() => {
    const batch = makeBatch()
    let batchHits: tf.Scalar | undefined
    const c = optimizer.minimize(
      () => {
        const logits = batch.logits()
        batchHits = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(batch.targets, 1)).toFloat()))
        return batch.loss(logits, batch.targets)
      },
      true,
      trainable,
    )!
    return [c, batchHits!]
  })
  try {
    return { loss: (await cost.data())[0]!, hits: (await hits.data())[0]! }
  } finally {
    cost.dispose()
    hits.dispose()
    await new Promise(setImmediate)
  }
}

export function makeOptimizer(kind: TrainHeadOptions['optimizer'], learningRate: number): tf.Optimizer {
  return kind === 'sgd' ? tf.train.momentum(learningRate, SGD_MOMENTUM) : tf.train.adam(learningRate)
}

/**
 * Gives a fresh optimizer the state `getWeights()` read from another of its kind: the iteration count, then its
 * slots (Adam: first and second moments; momentum: one accumulator) per trainable variable, in order.
 */
async function restoreOptimizer(optimizer: tf.Optimizer, state: Float32Array[], trainable: tf.Variable[]): Promise<void> {
  if (state.length < 1 || (state.length - 1) % trainable.length !== 0) throw new RangeError("the checkpoint's optimizer state does not fit these variables")
  const shapeOf = (i: number) => trainable[(i - 1) % trainable.length]!.shape
  const named = state.map((values, i) => ({ name: `w${i}`, tensor: i === 0 ? tf.scalar(values[0]!, 'int32') : tf.tensor(values, shapeOf(i)) }))
  try {
    await optimizer.setWeights(named)
  } finally {
    named.forEach((w) => w.tensor.dispose()) // setWeights copies them into variables of its own
  }
}

/**
 * Follows the monitored validation figure epoch by epoch: 'improved' when it beats the best so far by more than
 * minDelta, 'stop' once `patience` epochs in a row did not, else 'waiting'. Without validation figures every
 * epoch is 'waiting' and there is no best epoch.
 */
export function bestTracker(spec: EarlyStopping | undefined, from?: TrackerState) {
  const monitor = spec?.monitor ?? TRAIN_DEFAULTS.earlyStopping.monitor
  const minDelta = spec?.minDelta ?? TRAIN_DEFAULTS.earlyStopping.minDelta
  const patience = spec?.patience ?? Infinity
  let best = from?.best
  let since = from?.since ?? 0
  return {
    state: (): TrackerState => ({ ...(best && { best: { ...best } }), since }),
    observe(log: Pick<EpochLog, 'epoch' | 'valLoss' | 'valAccuracy'>): 'improved' | 'waiting' | 'stop' {
      const value = log[monitor]
      if (value === undefined) return 'waiting'
      const gain = best === undefined ? Infinity : monitor === 'valLoss' ? best.value - value : value - best.value
      if (gain > minDelta) {
        best = { epoch: log.epoch, value }
        since = 0
        return 'improved'
      }
      return ++since >= patience ? 'stop' : 'waiting'
    },
    /** 1-based epoch with the best monitored figure, or null without validation. */
    bestEpoch: () => best?.epoch ?? null,
  }
}

/**
 * The head as plain ops on its own variables, giving logits: differentiable end to end (tfjs cannot take gradients
 * through a BatchNormalization without scale, as the frozen norm layer is), dropout off. Dispose when done.
 */
export function headLogits(head: tf.LayersModel): { logits(x: tf.Tensor2D): tf.Tensor2D; variables: tf.Variable[]; dispose(): void } {
  const layer = (name: string) => head.layers.find((l) => l.name === name)
  const norm = layer(HEAD_LAYERS.norm)
  const stats = norm
    ? tf.tidy(() => {
        const [mean, variance] = norm.getWeights()
        return { mean: tf.keep(mean!.clone()), scale: tf.keep(tf.rsqrt(tf.add(variance!, NORM_EPSILON))) }
      })
    : undefined
  const hidden = layer(HEAD_LAYERS.hidden) ? variables(head, HEAD_LAYERS.hidden) : undefined
  const output = variables(head, HEAD_LAYERS.output)
  return {
    logits: (x) => {
      let h: tf.Tensor2D = stats ? tf.mul(tf.sub(x, stats.mean), stats.scale) : x
      if (hidden) h = tf.relu(tf.add(tf.matMul(h, hidden.kernel), hidden.bias))
      return tf.add(tf.matMul(h, output.kernel), output.bias)
    },
    variables: [...(hidden ? [hidden.kernel, hidden.bias] : []), output.kernel, output.bias],
    dispose: () => stats && tf.dispose([stats.mean, stats.scale]),
  }
}

/** Epsilon of the norm layer, also used when standardising training copies. */
export const NORM_EPSILON = 1e-3

function buildHead(d: number, numClasses: number, hiddenUnits: number, rate: number, seed: number, stats?: Moments): tf.LayersModel {
  const input = tf.input({ shape: [d], name: HEAD_LAYERS.input })
  let x: tf.SymbolicTensor = input
  let norm: tf.layers.Layer | undefined
  if (stats) {
    norm = tf.layers.batchNormalization({ name: HEAD_LAYERS.norm, center: false, scale: false, epsilon: NORM_EPSILON, trainable: false })
    x = norm.apply(x) as tf.SymbolicTensor
  }
  if (hiddenUnits > 0) {
    x = tf.layers
      .dense({ units: hiddenUnits, activation: 'relu', name: HEAD_LAYERS.hidden, kernelInitializer: tf.initializers.heNormal({ seed }) })
      .apply(x) as tf.SymbolicTensor
    // Inert at inference; training applies our own seeded masks in its place.
    x = tf.layers.dropout({ rate, name: HEAD_LAYERS.dropout }).apply(x) as tf.SymbolicTensor
  }
  const probs = tf.layers
    .dense({ units: numClasses, activation: 'softmax', name: HEAD_LAYERS.output, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) })
    .apply(x) as tf.SymbolicTensor
  const model = tf.model({ inputs: input, outputs: probs, name: 'head' })
  // The variables keep their own reference to the data, so the tidy may free these sources.
  if (norm && stats) tf.tidy(() => norm.setWeights([tf.tensor1d(stats.mean), tf.tensor1d(stats.variance)]))
  return model
}

interface Moments {
  mean: Float32Array
  variance: Float32Array
}

/** Per-dimension mean and (population) variance of the vectors. */
function moments(vectors: Float32Array[]): Moments {
  const d = vectors[0]!.length
  const mean = new Float32Array(d)
  const variance = new Float32Array(d)
  for (const v of vectors) for (let j = 0; j < d; j++) mean[j] = mean[j]! + v[j]! / vectors.length
  for (const v of vectors) for (let j = 0; j < d; j++) variance[j] = variance[j]! + (v[j]! - mean[j]!) ** 2 / vectors.length
  return { mean, variance }
}

function variables(model: tf.LayersModel, layer: string): { kernel: tf.Variable; bias: tf.Variable } {
  // LayerVariable.read() is the tf.Variable itself, which is what the optimizer updates (as fit() does).
  const [kernel, bias] = model.getLayer(layer).trainableWeights.map((w) => w.read() as tf.Variable)
  if (!kernel || !bias) throw new Error(`layer ${layer} lacks kernel or bias`)
  return { kernel, bias }
}

/** Inverted dropout: kept units scaled by 1 / (1 − rate) so inference needs no rescaling. */
function dropoutMask(rows: number, cols: number, rate: number, random: () => number): Float32Array {
  const mask = new Float32Array(rows * cols)
  const keep = 1 / (1 - rate)
  for (let i = 0; i < mask.length; i++) mask[i] = random() >= rate ? keep : 0
  return mask
}

/** Per-example loss weights from per-class ones; undefined when none. */
export function classWeightsFor(labels: number[], numClasses: number, perClass: number[] | undefined): number[] | undefined {
  if (!perClass) return undefined
  if (perClass.length !== numClasses) throw new RangeError(`${perClass.length} class weights for ${numClasses} classes`)
  return labels.map((l) => perClass[l]!)
}

/** Rows of one flat matrix, z-scored with `stats` when given (as the norm layer computes it). */
function concat(vectors: Float32Array[], stats?: Moments): Float32Array {
  const d = vectors[0]?.length ?? 0
  const out = new Float32Array(vectors.length * d)
  const scale = stats ? stats.variance.map((v) => 1 / Math.sqrt(v + NORM_EPSILON)) : undefined
  vectors.forEach((v, i) => {
    if (v.length !== d) throw new RangeError(`feature ${i} has length ${v.length}, expected ${d}`)
    if (!stats || !scale) out.set(v, i * d)
    else for (let j = 0; j < d; j++) out[i * d + j] = (v[j]! - stats.mean[j]!) * scale[j]!
  })
  return out
}
