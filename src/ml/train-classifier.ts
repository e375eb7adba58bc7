import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'
import type { FeatureCache } from '../storage/features.js'
import type { Base } from './bases.js'
import { evaluate, type Metrics } from './evaluate.js'
import { composeClassifier } from './export.js'
import { extractFeatures } from './features.js'
import { stratifiedSplit } from './split.js'
import { trainHead, type EpochLog, type HeadCheckpoint, type TrainHeadOptions } from './train.js'

export type TrainPhase = 'extracting' | 'training' | 'evaluating'

export interface TrainProgress {
  phase: TrainPhase
  /** Of the whole run, 0–100 (extraction is weighted 0–60, training 60–95, evaluation 95–100). */
  percent: number
  epoch?: number
  epochs?: number
  log?: EpochLog
}

export interface TrainExample {
  /** sha256 hex of the image bytes: the feature cache key. */
  key: string
  /** Index into `labels`. */
  label: number
  /** A split fixed by the dataset (train/ and val/ folders); when any example says 'val', these are used. */
  split?: 'train' | 'val' | undefined
  read(): Promise<Uint8Array>
}

export interface TrainClassifierInput {
  base: Base
  labels: string[]
  examples: TrainExample[]
  options: {
    epochs: number
    batchSize: number
    learningRate: number
    /** Share of each class held out for validation when the dataset has no split of its own, in [0, 1). */
    validationSplit: number
    seed: number
  } & Partial<Pick<TrainHeadOptions, 'hiddenUnits' | 'dropout' | 'l2' | 'standardize' | 'classWeights' | 'earlyStopping'>>
  cache: FeatureCache
  maxPixels: number
  /** Images per trunk call during extraction. @defaultValue 16 */
  extractBatchSize?: number
  /** Embeds decoded images off this thread (`FeaturePool.embed`); see `ExtractOptions.embed`. */
  embed?(pixels: Uint8Array[]): Promise<Float32Array>
  signal?: AbortSignal | undefined
  onProgress?(p: TrainProgress): void
  /** Passed to `trainHead`: continue the head's training from a checkpoint, and report one after each epoch. */
  resumeFrom?: HeadCheckpoint | undefined
  onCheckpoint?: TrainHeadOptions['onCheckpoint']
}

export interface TrainClassifierResult {
  /** Preprocessed image → probabilities, owning its weights; the caller saves and disposes it. */
  model: tf.LayersModel
  /** On the validation set, or on the training set when there is none (see `evaluatedOn`). */
  metrics: Metrics
  evaluatedOn: 'validation' | 'training'
  history: EpochLog[]
  trainCount: number
  valCount: number
  /** Wall seconds per phase. */
  timings: { extracting: number; training: number; evaluating: number }
}

const EXTRACT_SHARE = 60
const TRAIN_SHARE = 35

/**
 * Trains a classifier end to end on a loaded base: embeds every example (feature cache first), splits, trains a
 * head on the features, scores it, and composes base + head into one model. Every intermediate tensor is freed.
 * @throws AppError TOO_FEW_CLASSES / DATASET_INVALID for unusable input, image AppErrors from decoding,
 *   AbortError when `signal` aborts
 */
export async function trainClassifier(input: TrainClassifierInput): Promise<TrainClassifierResult> {
  const { base, labels, examples, options, signal } = input
  const numClasses = labels.length
  if (numClasses < 2) throw new AppError('TOO_FEW_CLASSES', `need at least 2 classes, got ${numClasses}`)
  examples.forEach((e, i) => {
    if (!(Number.isInteger(e.label) && e.label >= 0 && e.label < numClasses)) {
      throw new AppError('DATASET_INVALID', `example ${i} has label ${e.label}, outside 0..${numClasses - 1}`)
    }
  })
  const report = (p: TrainProgress) => input.onProgress?.({ ...p, percent: Math.round(p.percent * 10) / 10 })

  let t = performance.now()
  const lap = () => {
    const now = performance.now()
    const s = (now - t) / 1000
    t = now
    return s
  }
  report({ phase: 'extracting', percent: 0 })
  const features = await extractFeatures(base, examples, {
    cache: input.cache,
    maxPixels: input.maxPixels,
    batchSize: input.extractBatchSize,
    embed: input.embed,
    signal,
    onProgress: (done, total) => report({ phase: 'extracting', percent: (EXTRACT_SHARE * done) / Math.max(1, total) }),
  })
  const extracting = lap()

  const { train, val } = chooseSplit(examples, options.validationSplit, options.seed)
  const present = new Set(train.map((i) => examples[i]!.label))
  if (present.size < 2) throw new AppError('TOO_FEW_CLASSES', `the training split covers ${present.size} class(es); need at least 2`)
  const pick = (idx: number[]) => ({ features: idx.map((i) => features[i]!), labels: idx.map((i) => examples[i]!.label) })
  const trainSet = pick(train)
  const valSet = pick(val)

  report({ phase: 'training', percent: EXTRACT_SHARE, epoch: 0, epochs: options.epochs })
  const { head, history } = await trainHead(trainSet.features, trainSet.labels, numClasses, {
    epochs: options.epochs,
    batchSize: options.batchSize,
    learningRate: options.learningRate,
    seed: options.seed,
    hiddenUnits: options.hiddenUnits,
    dropout: options.dropout,
    l2: options.l2,
    standardize: options.standardize,
    classWeights: options.classWeights,
    earlyStopping: options.earlyStopping,
    validation: val.length > 0 ? valSet : undefined,
    signal,
    resumeFrom: input.resumeFrom,
    onCheckpoint: input.onCheckpoint,
    onEpoch: (log) =>
      report({ phase: 'training', percent: EXTRACT_SHARE + (TRAIN_SHARE * log.epoch) / options.epochs, epoch: log.epoch, epochs: options.epochs, log }),
  })
  const training = lap()

  try {
    report({ phase: 'evaluating', percent: EXTRACT_SHARE + TRAIN_SHARE })
    const scored = val.length > 0 ? valSet : trainSet
    const probs = predictRows(head, scored.features)
    const metrics = evaluate(scored.labels, probs, labels)
    const model = await composeClassifier(base, head)
    const evaluating = lap()
    report({ phase: 'evaluating', percent: 100 })
    return {
      model,
      metrics,
      evaluatedOn: val.length > 0 ? 'validation' : 'training',
      history,
      trainCount: train.length,
      valCount: val.length,
      timings: { extracting, training, evaluating },
    }
  } finally {
    head.dispose()
  }
}

/** The dataset's own split when it has a validation part, else a seeded stratified one. */
function chooseSplit(examples: TrainExample[], fraction: number, seed: number): { train: number[]; val: number[] } {
  if (examples.some((e) => e.split === 'val')) {
    const train: number[] = []
    const val: number[] = []
    examples.forEach((e, i) => (e.split === 'val' ? val : train).push(i))
    return { train, val }
  }
  return stratifiedSplit(
    examples.map((e) => e.label),
    fraction,
    seed,
  )
}

/** Head probabilities for feature vectors, as plain rows. */
function predictRows(head: tf.LayersModel, features: Float32Array[]): Float32Array[] {
  if (features.length === 0) return []
  const d = features[0]!.length
  const flat = new Float32Array(features.length * d)
  features.forEach((f, i) => flat.set(f, i * d))
  const probs = tf.tidy(() => head.predict(tf.tensor2d(flat, [features.length, d])) as tf.Tensor2D)
  try {
    const data = probs.dataSync() as Float32Array
    const c = probs.shape[1]
    return features.map((_, i) => data.slice(i * c, (i + 1) * c))
  } finally {
    probs.dispose()
  }
}
