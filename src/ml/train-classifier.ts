import * as tf from '@tensorflow/tfjs'
import { checkClassWeightNames, TRAIN_DEFAULTS, type MisclassifiedImage, type TrainOptions } from '../contract/jobs.js'
import type { Metrics } from '../contract/metrics.js'
import { AppError } from '../errors.js'
import type { Base } from './bases.js'
import { IMBALANCE_RATIO } from '../datasets/dataset-warnings.js'
import { augmentView, viewKeySuffix, type AugmentSpec } from './augment.js'
import { evaluate, misclassifications } from './evaluate.js'
import { dataInsights, type DataInsights, type DataInsightsInput } from './data-insights.js'
import { composeModel, type Classifier } from './export.js'
import { extractFeatures, type FeatureCache, type FeatureItem } from './features.js'
import { fineTune } from './fine-tune.js'
import { stratifiedSplit } from './split.js'
import { thumbnailDescriptors, thumbnailFromPixels } from './thumbnails.js'
import { MAX_NEAR_DUPLICATE_IMAGES } from './near-duplicates.js'
import { trainHead, type EpochLog, type HeadCheckpoint, type TrainHeadOptions } from './train.js'
import { trainingWarnings } from './training-warnings.js'
import { splitTrunk, type TrunkSplit } from './trunk-split.js'

export type TrainPhase = 'extracting' | 'training' | 'evaluating'

/** What `trainClassifier` reports as it goes (the worker turns it into the job's `TrainProgress`). */
export interface ClassifierProgress {
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
  /** Where the image is in the dataset; reported with misclassified images and warnings. */
  path?: string | undefined
  read(): Promise<Uint8Array>
}

/**
 * Loss weight per class: 'auto' is 'balanced' when the largest training class has at least `IMBALANCE_RATIO`
 * times the images of the smallest, else 'none'; or weights by class name (classes left out weigh 1).
 */
export type ClassWeightsSpec = NonNullable<TrainOptions['classWeights']>

export interface TrainClassifierOptions
  extends Partial<Pick<TrainHeadOptions, 'hiddenUnits' | 'dropout' | 'l2' | 'standardize' | 'earlyStopping' | 'optimizer' | 'labelSmoothing'>> {
  epochs: number
  batchSize: number
  learningRate: number
  /** Share of each class held out for validation when the dataset has no split of its own, in [0, 1). */
  validationSplit: number
  seed: number
  /** @defaultValue 'auto' */
  classWeights?: ClassWeightsSpec | undefined
  /** Augmented views of the training images (never of validation images), embedded once and cached. */
  augment?: AugmentSpec | undefined
  /**
   * Top tunable layers of the base to train after the head (0: head only), from cached activations below them,
   * for `fineTuneEpochs(epochs)` epochs at `learningRate × FINE_TUNE_LR_FACTOR`. @defaultValue 0
   */
  fineTuneLayers?: number | undefined
  /**
   * After the head has trained on the seeded split and been scored on its validation images, train the served head
   * again on every image (validation ones included) for the epochs the scored run kept, so a small set loses no
   * fifth of its examples. `metrics` then describe the scored head, trained on fewer images. Applies to head-only
   * runs on a seeded split: a dataset's own val/ folder stays held out. @defaultValue false
   */
  refit?: boolean | undefined
}

export interface TrainClassifierInput {
  base: Base
  labels: string[]
  examples: TrainExample[]
  options: TrainClassifierOptions
  cache: FeatureCache
  maxPixels: number
  /** Images per trunk call during extraction. @defaultValue 16 */
  extractBatchSize?: number
  /** Embeds decoded images off this thread (`FeaturePool.embed`); see `ExtractOptions.embed`. */
  embed?(pixels: Uint8Array[]): Promise<Float32Array>
  /**
   * Runs `dataInsights` off this thread (`FeaturePool.insights`): they need only the cached features, so they then
   * run while the head trains here. Without it they run here after the head.
   */
  insights?(input: DataInsightsInput): Promise<DataInsights>
  signal?: AbortSignal | undefined
  onProgress?(p: ClassifierProgress): void
  /**
   * Passed to `trainHead`: continue the head's training from a checkpoint, and report one after each epoch.
   * Fine-tuning (after the head) starts over on a resume.
   */
  resumeFrom?: HeadCheckpoint | undefined
  onCheckpoint?: TrainHeadOptions['onCheckpoint']
}

export interface TrainClassifierResult {
  /** Preprocessed image → probabilities, owning its weights; the caller saves and disposes it. */
  model: Classifier
  /** On the validation set, or on the training set when there is none (see `evaluatedOn`). */
  metrics: Metrics
  evaluatedOn: 'validation' | 'training'
  history: EpochLog[]
  /**
   * The epoch whose weights the model has: with early stopping the best by its monitor, else the head's last;
   * after fine-tuning its best epoch, or the head's when fine-tuning never beat it on validation.
   */
  bestEpoch: number
  /** Wrong predictions on the evaluated set, most confident first, at most `MAX_MISCLASSIFIED`. */
  misclassified: MisclassifiedImage[]
  /** See `trainingWarnings`. */
  warnings: string[]
  /** Loss weight per class name as used, or null when unweighted. */
  classWeights: Record<string, number> | null
  /** The cut and tuned layers when fineTuneLayers > 0. */
  fineTuned: { cutLayer: string; layers: string[] } | null
  /** Training images, and training examples including augmented views. */
  trainCount: number
  trainViews: number
  valCount: number
  /**
   * Likely label errors, near-duplicates and class guidance over every image of the dataset, from k-fold probes
   * on the cached features (see `dataInsights`); independent of the trained head.
   */
  insights: Pick<DataInsights, 'labelIssues' | 'nearDuplicates' | 'classGuidance'>
  /**
   * Wall seconds per phase; `insights` is part of `evaluating`, or with `TrainClassifierInput.insights` their own
   * wall time, which overlaps `training` (`evaluating` then holds only what was left to wait for).
   */
  timings: { extracting: number; training: number; evaluating: number; insights: number }
}

const EXTRACT_SHARE = 60
const TRAIN_SHARE = 35

/** How far into its own phase a progress report is, 0–1, for callers that weigh the phases differently. */
export function phaseFraction(p: ClassifierProgress): number {
  const [start, end] =
    p.phase === 'extracting' ? [0, EXTRACT_SHARE] : p.phase === 'training' ? [EXTRACT_SHARE, EXTRACT_SHARE + TRAIN_SHARE] : [EXTRACT_SHARE + TRAIN_SHARE, 100]
  return Math.min(1, Math.max(0, (p.percent - start) / (end - start)))
}
/** Fine-tuning moves pretrained filters at this fraction of the head's learning rate. */
export const FINE_TUNE_LR_FACTOR = 0.1
/** Misclassified images listed at most. */
export const MAX_MISCLASSIFIED = 100

/** Fine-tuning epochs after `epochs` head epochs: a quarter, at least one (each costs a pass through the top layers). */
export function fineTuneEpochs(epochs: number): number {
  return Math.max(1, Math.ceil(epochs / 4))
}

/**
 * Trains a classifier end to end on a loaded base: splits, embeds every example and augmented view (cache first),
 * trains a head on the features, optionally fine-tunes the base's top layers from cached activations, scores it,
 * and composes base + head into one model. Every intermediate tensor is freed; `base` is left unchanged.
 * @throws AppError TOO_FEW_CLASSES / DATASET_INVALID / OPTIONS_INVALID for unusable input, image AppErrors from
 *   decoding, AbortError when `signal` aborts
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
  const report = (p: ClassifierProgress) => input.onProgress?.({ ...p, percent: Math.round(p.percent * 10) / 10 })

  let t = performance.now()
  const lap = () => {
    const now = performance.now()
    const s = (now - t) / 1000
    t = now
    return s
  }
  const { train, val } = chooseSplit(examples, options.validationSplit, options.seed)
  const present = new Set(train.map((i) => examples[i]!.label))
  if (present.size < 2) throw new AppError('TOO_FEW_CLASSES', `the training split covers ${present.size} class(es); need at least 2`)
  const perClassWeights = resolveClassWeights(options.classWeights ?? TRAIN_DEFAULTS.classWeights, labels, train.map((i) => examples[i]!.label))
  const warnings = trainingWarnings(labels, examples, train, val)

  const fineTuneLayers = options.fineTuneLayers ?? TRAIN_DEFAULTS.fineTuneLayers
  if (fineTuneLayers > 0 && base.kind !== 'layers') {
    throw new AppError('OPTIONS_INVALID', `fineTuneLayers needs a LayersModel base; '${base.id}' is a GraphModel base (head-only training)`)
  }
  const split = fineTuneLayers > 0 && base.kind === 'layers' ? splitTrunk(base.trunk, base.id, fineTuneLayers) : undefined
  try {
    // Items to embed: every example as is, then the augmented views of the training examples.
    const views = options.augment && options.augment.views > 0 ? options.augment : undefined
    const items: FeatureItem[] = examples.map((e) => ({ key: e.key, read: e.read }))
    const viewOf: number[] = []
    if (views) {
      for (let k = 1; k <= views.views; k++) {
        const suffix = viewKeySuffix(views, k)
        for (const i of train) {
          const e = examples[i]!
          items.push({ key: `${e.key}-${suffix}`, read: e.read, transform: (pixels, size) => augmentView(pixels, size, views, e.key, k) })
          viewOf.push(i)
        }
      }
    }
    report({ phase: 'extracting', percent: 0 })
    // Thumbnails for the duplicate search, from the pixels decoded here rather than a second decode of each image.
    const wantThumbnails = examples.length <= MAX_NEAR_DUPLICATE_IMAGES
    const decodedThumbnails = new Map<string, Float32Array>()
    const embedded = await extractFeatures(base, items, {
      cache: input.cache,
      maxPixels: input.maxPixels,
      batchSize: input.extractBatchSize,
      embed: input.embed,
      signal,
      net: split && { model: split.below, size: split.activationShape.reduce((a, b) => a * b, 1), cacheId: split.cacheId },
      onProgress: (done, total) => report({ phase: 'extracting', percent: (EXTRACT_SHARE * done) / Math.max(1, total) }),
      onDecoded: (i, pixels) => {
        if (wantThumbnails && i < examples.length) decodedThumbnails.set(examples[i]!.key, thumbnailFromPixels(pixels, base.inputSize))
      },
    })
    // With a cut, the cached values are activations; the head learns from the top part's output on them.
    const features = split ? runTop(split, embedded, options.batchSize) : embedded
    const extracting = lap()

    const trainRows = [...train, ...viewOf.map((_, v) => examples.length + v)]
    const labelOf = (row: number) => examples[row < examples.length ? row : viewOf[row - examples.length]!]!.label
    const trainLabels = trainRows.map(labelOf)
    const valSet = { features: val.map((i) => features[i]!), labels: val.map((i) => examples[i]!.label) }
    const ftEpochs = split ? fineTuneEpochs(options.epochs) : 0
    const totalEpochs = options.epochs + ftEpochs
    const onEpoch = (log: EpochLog) =>
      report({ phase: 'training', percent: EXTRACT_SHARE + (TRAIN_SHARE * log.epoch) / totalEpochs, epoch: log.epoch, epochs: totalEpochs, log })

    const insightsInput = async (): Promise<DataInsightsInput> => ({
      features: features.slice(0, examples.length),
      // Only for a set the duplicate search will take.
      thumbnails: wantThumbnails
        ? await thumbnailDescriptors(examples, { cache: input.cache, maxPixels: input.maxPixels, signal, known: decodedThumbnails })
        : undefined,
      labels: examples.map((e) => e.label),
      classNames: labels,
      paths: examples.map((e) => e.path ?? e.key),
      validation: new Set(val),
      seed: options.seed,
      signal,
    })
    /** The insights with their wall seconds since `started`. */
    type Timed = { insights: DataInsights; seconds: number }
    const timed = (started: number) => (insights: DataInsights): Timed => ({ insights, seconds: (performance.now() - started) / 1000 })
    let offloaded: Promise<Timed> | undefined
    if (input.insights) {
      const started = performance.now()
      // Thumbnails before the head: decoded here beside it, they slowed it by about what the overlap saved
      // (bench/job, a new 800-image set).
      offloaded = input.insights(await insightsInput()).then(timed(started))
      // Awaited after evaluation; a head that fails first must not leave its rejection unhandled.
      offloaded.catch(() => undefined)
    }

    report({ phase: 'training', percent: EXTRACT_SHARE, epoch: 0, epochs: totalEpochs })
    const classWeights = perClassWeights ? labels.map((l) => perClassWeights[l]!) : undefined
    // A checkpoint taken during fine-tuning holds the head's variables too: the head is built but not trained again.
    const resume = input.resumeFrom
    const fineTuneResume = split && resume?.fineTune ? resume : undefined
    const headOptions = {
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      optimizer: options.optimizer,
      labelSmoothing: options.labelSmoothing,
      seed: options.seed,
      hiddenUnits: options.hiddenUnits,
      dropout: options.dropout,
      l2: options.l2,
      standardize: options.standardize,
      classWeights,
    }
    const trained = await trainHead(
      trainRows.map((r) => features[r]!),
      trainLabels,
      numClasses,
      {
        ...headOptions,
        epochs: fineTuneResume ? 0 : options.epochs,
        earlyStopping: options.earlyStopping,
        validation: val.length > 0 ? valSet : undefined,
        signal,
        onEpoch,
        resumeFrom: fineTuneResume || resume?.fineTune ? undefined : resume,
        onCheckpoint: input.onCheckpoint,
      },
    )
    const { head } = trained
    /** The head the model is composed with: `head`, or the refit one. */
    let served = head
    try {
      const headEpochs = fineTuneResume?.fineTune?.headEpochs
      const history = fineTuneResume ? fineTuneResume.history.slice(0, headEpochs) : [...trained.history]
      // Early stopping restores its best epoch; without it the head keeps its last.
      let bestEpoch = fineTuneResume
        ? fineTuneResume.fineTune!.headBestEpoch ?? history.length
        : options.earlyStopping && trained.bestEpoch !== null
          ? trained.bestEpoch
          : trained.history.length
      // A dataset's own val/ split is the user's held-out set, and fine-tuning cannot be refit from features alone.
      const refitRows = options.refit && !split && val.length > 0 && !examples.some((e) => e.split === 'val') ? [...trainRows, ...val] : undefined
      if (refitRows) served = (await trainHead(refitRows.map((r) => features[r]!), refitRows.map(labelOf), numClasses, { ...headOptions, epochs: bestEpoch, signal })).head
      if (split) {
        const headDone = { headEpochs: history.length, headBestEpoch: bestEpoch }
        const tuned = await fineTune(split, head, trainRows.map((r) => embedded[r]!), trainLabels, numClasses, {
          epochs: ftEpochs,
          batchSize: options.batchSize,
          learningRate: options.learningRate * FINE_TUNE_LR_FACTOR,
          optimizer: options.optimizer,
          labelSmoothing: options.labelSmoothing,
          classWeights,
          seed: options.seed,
          firstEpoch: history.length + 1,
          validation: val.length > 0 ? { activations: val.map((i) => embedded[i]!), labels: valSet.labels } : undefined,
          earlyStopping: options.earlyStopping,
          signal,
          onEpoch,
          // Fine-tuning's own counts inside; the stored checkpoint counts the head's epochs too.
          resumeFrom: fineTuneResume && { ...fineTuneResume, epoch: fineTuneResume.epoch - headDone.headEpochs, history: fineTuneResume.history.slice(headDone.headEpochs) },
          onCheckpoint: input.onCheckpoint
            ? (state) => input.onCheckpoint!({ ...state, epoch: headDone.headEpochs + state.epoch, history: [...history, ...state.history], fineTune: headDone })
            : undefined,
        })
        history.push(...tuned.history)
        bestEpoch = tuned.bestEpoch ?? bestEpoch
      }
      const training = lap()

      report({ phase: 'evaluating', percent: EXTRACT_SHARE + TRAIN_SHARE })
      const scored = val.length > 0 ? val : train
      const scoredFeatures = split ? runTop(split, scored.map((i) => embedded[i]!), options.batchSize) : scored.map((i) => features[i]!)
      const probs = predictRows(head, scoredFeatures)
      const scoredLabels = scored.map((i) => examples[i]!.label)
      const metrics = evaluate(scoredLabels, probs, labels)
      const misclassified = misclassifications(scoredLabels, probs, labels, MAX_MISCLASSIFIED).map((m) => {
        const e = examples[scored[m.index]!]!
        return { path: e.path ?? e.key, true: m.true, predicted: m.predicted, score: m.score }
      })
      const here = async () => {
        const started = performance.now()
        return timed(started)(dataInsights(await insightsInput()))
      }
      const { insights, seconds: insightsSeconds } = await (offloaded ?? here())
      const model = await composeModel(base, served)
      // The composed model owns copies of the trunk's weights; the tuned ones replace theirs by layer name.
      if (split && model instanceof tf.LayersModel) for (const layer of split.tuned) model.getLayer(layer.name).setWeights(layer.getWeights())
      const evaluating = lap()
      report({ phase: 'evaluating', percent: 100 })
      return {
        model,
        metrics,
        evaluatedOn: val.length > 0 ? 'validation' : 'training',
        history,
        bestEpoch,
        misclassified,
        warnings: [...warnings, ...insights.warnings],
        insights: { labelIssues: insights.labelIssues, nearDuplicates: insights.nearDuplicates, classGuidance: insights.classGuidance },
        classWeights: perClassWeights ?? null,
        fineTuned: split ? { cutLayer: split.cutLayer, layers: split.tuned.map((l) => l.name) } : null,
        trainCount: train.length,
        trainViews: trainRows.length,
        valCount: val.length,
        timings: { extracting, training, evaluating, insights: insightsSeconds },
      }
    } finally {
      head.dispose()
      if (served !== head) served.dispose()
    }
  } finally {
    split?.dispose()
  }
}

/**
 * Per-class-name weights the spec comes to for these training labels; undefined when unweighted. The one place the
 * 'balanced' formula lives: n / (classes × count), so each class weighs as much in total.
 * @throws AppError VALIDATION for a weight naming a class the labels lack (`checkClassWeightNames`)
 */
export function resolveClassWeights(spec: ClassWeightsSpec, labels: string[], trainLabels: number[]): Record<string, number> | undefined {
  if (spec === 'none') return undefined
  if (typeof spec === 'object') {
    checkClassWeightNames(spec, labels)
    return Object.fromEntries(labels.map((l) => [l, spec[l] ?? 1]))
  }
  const counts = new Array<number>(labels.length).fill(0)
  for (const l of trainLabels) counts[l]!++
  const nonEmpty = counts.filter((c) => c > 0)
  if (spec === 'auto' && Math.max(...nonEmpty) < IMBALANCE_RATIO * Math.min(...nonEmpty)) return undefined
  return Object.fromEntries(labels.map((l, k) => [l, counts[k] === 0 ? 0 : trainLabels.length / (nonEmpty.length * counts[k]!)]))
}

/** Features from cached activations: the split's top part in inference mode, in batches. */
function runTop(split: TrunkSplit, activations: Float32Array[], batchSize: number): Float32Array[] {
  const out: Float32Array[] = []
  const d = activations[0]?.length ?? 0
  for (let start = 0; start < activations.length; start += batchSize) {
    const rows = activations.slice(start, start + batchSize)
    const flat = new Float32Array(rows.length * d)
    rows.forEach((r, i) => flat.set(r, i * d))
    const features = tf.tidy(() => split.top.predict(tf.tensor(flat, [rows.length, ...split.activationShape])) as tf.Tensor2D)
    try {
      const data = features.dataSync() as Float32Array
      const f = features.shape[1]
      rows.forEach((_, i) => out.push(data.slice(i * f, (i + 1) * f)))
    } finally {
      features.dispose()
    }
  }
  return out
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
