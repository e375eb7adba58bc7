import { randomInt } from 'node:crypto'
import { Type, type Static, type TObject } from 'typebox'
import { AppError } from '../errors.js'
import { MetricsSchema } from './metrics.js'

/** Names users give uploaded bases: they are used as `baseModel` in jobs and as folder names. */
export const BASE_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$'

/**
 * How a base expects pixels: 'scale_0_1' divides by 255 (nsfwjs MobileNetV2/InceptionV3); 'scale_-1_1' maps
 * to [-1, 1] (Keras `mobilenet_v2.preprocess_input`); 'raw_0_255' feeds the bytes as floats (the COCO
 * MobileNetV3, whose graph normalises inside).
 */
export const PreprocessingSchema = Type.Union([Type.Literal('scale_0_1'), Type.Literal('scale_-1_1'), Type.Literal('raw_0_255')])
export type Preprocessing = Static<typeof PreprocessingSchema>

/**
 * A base model: a bundled id, the name of a base uploaded with `POST /bases` (any other string; the worker looks it
 * up when the job starts), or any tfjs LayersModel or GraphModel by URL or path.
 */
export type BaseModelRef =
  | 'mobilenet_v2'
  | 'inception_v3'
  | 'mobilenet_v3_coco'
  | (string & {})
  | { url: string; inputSize?: number; featureLayer?: string; preprocessing?: Preprocessing }

/**
 * The base a job gets when `POST /jobs` names none. The COCO MobileNetV3 transfers better to photos than nsfwjs's
 * MobileNetV2 (fashion-mnist +5 points, ahead on 8 of 8 seeds; real photos +18 in the issue's probe) and ties or loses ~2 on
 * drawings and digits: docs/benchmarks.md. It trains the head only, so fineTuneLayers needs a base named. Workers load
 * it before their first job (WORKER_PREWARM).
 */
export const DEFAULT_BASE_MODEL: BaseModelRef = 'mobilenet_v3_coco'

/**
 * Hyper-parameters after defaults are applied; the worker never guesses. Absent options are null (plain JSON).
 * The fields after `seed` are absent on jobs queued before they existed; the ML core's defaults for an absent one
 * equal the API's (see TRAIN_DEFAULTS below).
 */
export interface TrainOptions {
  epochs: number
  batchSize: number
  learningRate: number
  validationSplit: number
  seed: number
  optimizer?: 'adam' | 'sgd'
  labelSmoothing?: number
  dropout?: number
  hiddenUnits?: number
  earlyStopping?: { patience: number; monitor: 'valLoss' | 'valAccuracy'; minDelta: number } | null
  /** 'auto', 'balanced', 'none' or weights by class name. */
  classWeights?: 'auto' | 'balanced' | 'none' | Record<string, number>
  augment?: { flip: boolean; crop: boolean; rotate: boolean; brightness: boolean; contrast: boolean; views: number } | null
  fineTuneLayers?: number
  /** Train the served head again on every image after validation; see TrainClassifierOptions.refit. */
  refit?: boolean
}

export interface TrainModelJob {
  /** The id the model will be stored under once training succeeds; the job's own id, so the API can tell a model still training from an unknown one. */
  modelId: string
  datasetId: string
  baseModel: BaseModelRef
  options: TrainOptions
  requestId: string
  /** Who queued it (`key:…` or `ip:…`), for the per-key queue quota; the worker ignores it. */
  owner?: string
  /** The project the job, its dataset, base and model belong to; absent on jobs queued before projects: `default`. */
  projectId?: string
  /**
   * Queued by an API with keys: a tenant's job. Its worker fetches an http(s) `baseModel.url` through the SSRF guard
   * (resolved once, every address checked, connected to at the checked one), as the API checked it, and its job
   * documents name no worker. Absent in open mode (a base may be a file or a host inside the network, and the caller
   * runs the service) and on jobs queued before it existed. The API decides: a worker may run without API_KEYS.
   */
  keyed?: true
  /**
   * With keys, the caller's priority: it orders the job among its project's queued jobs only, every job getting
   * BullMQ's default priority (one project marking all its jobs 1 would otherwise run them before every other
   * project's). Absent in open mode, where the priority is BullMQ's own.
   */
  priority?: number
  /** Called once with the final job document when the job ends (see workers/webhooks.ts). */
  webhook?: { url: string }
  /**
   * SHA-256 of the POST body that queued the job under an Idempotency-Key: a retry with the same key must send the
   * same body. Absent without a key; the worker ignores it.
   */
  requestHash?: string
}

/**
 * Every job gets a priority (BullMQ's: 1 runs first). BullMQ runs jobs without one before all prioritised jobs, so a
 * default keeps "priority 1" meaning "ahead of the rest".
 */
export const PRIORITY = { highest: 1, lowest: 100, default: 50 } as const


/** A base model; `extra` adds keywords (the request's default). */
const baseModelSchema = (extra: { default?: unknown } = {}) => Type.Union(
  [
    Type.Literal('mobilenet_v2'),
    Type.Literal('inception_v3'),
    Type.Literal('mobilenet_v3_coco'),
    Type.String({ pattern: BASE_NAME_PATTERN, description: 'a base uploaded with POST /bases, by name' }),
    Type.Object(
      {
        url: Type.String({ minLength: 1, maxLength: 2048, description: 'model.json of a tfjs LayersModel or GraphModel: http(s) URL; a file:// URL, a path or a host inside the service\'s network only when the API runs open (no API_KEYS), else 403 URL_FORBIDDEN' }),
        inputSize: Type.Optional(
          Type.Integer({ minimum: 32, maximum: 1024, description: 'square input side in pixels; default: the model input shape (required for a GraphModel)' }),
        ),
        featureLayer: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 256,
            description: 'layer to cut at; default: the last pooling/flatten layer. For a GraphModel (required): the node whose [n,h,w,c] output is mean-pooled',
          }),
        ),
        preprocessing: Type.Optional(
          Type.Union(PreprocessingSchema.anyOf, { description: "pixel scaling the model expects; default 'scale_0_1'" }),
        ),
      },
      { additionalProperties: false },
    ),
  ],
  {
    // Declared as the schema's default too, so clients (the dashboard's base picker) read it rather than the prose.
    default: DEFAULT_BASE_MODEL,
    description:
      `pretrained network to transfer from; default '${String(DEFAULT_BASE_MODEL)}'. mobilenet_v2 (224 px) and inception_v3 (299 px): nsfwjs's Keras models; ` +
      'mobilenet_v3_coco (320 px): the COCO-trained MobileNetV3-CenterNet backbone of @vladmandic/human, a GraphModel (head-only: no fineTuneLayers)',
    ...extra,
  },
)

/**
 * Refuses weights for classes the dataset lacks: at `POST /jobs`, and again where the worker resolves the weights
 * (a job queued by other means).
 * @throws AppError VALIDATION with `details.unknown` (the names) and `details.classes`
 */
export function checkClassWeightNames(classWeights: TrainOptions['classWeights'], classNames: readonly string[]): void {
  if (typeof classWeights !== 'object') return
  const unknown = Object.keys(classWeights).filter((name) => !classNames.includes(name))
  if (unknown.length > 0) throw new AppError('VALIDATION', `classWeights names classes the dataset lacks: ${unknown.join(', ')}`, { unknown, classes: classNames })
}

/** Defaults live here, in the schema, so the docs and the worker see the same numbers. */
export const TRAIN_DEFAULTS = {
  // With refit, 40 epochs beat 20 on mean held-out accuracy on all three sets of bench/train-quality (ahead on 11
  // of 15 set-seeds, level on 1; docs/benchmarks.md, issue 14).
  epochs: 40,
  batchSize: 32,
  learningRate: 0.001,
  validationSplit: 0.2,
  optimizer: 'adam',
  labelSmoothing: 0,
  dropout: 0.2,
  hiddenUnits: 128,
  classWeights: 'auto',
  fineTuneLayers: 0,
  earlyStopping: { monitor: 'valLoss', minDelta: 0 },
  augmentViews: 4,
  // +0.7 to +1.7 points of mean held-out accuracy on three small sets (5 seeds) for one more head fit
  // (docs/benchmarks.md, issue 14).
  refit: true,
} as const

/**
 * A queued job's options with TRAIN_DEFAULTS filled in where the payload lacks them: jobs queued before an option
 * existed get the one default the API would give today, so the ML core's own fallbacks are never what decides.
 */
export function withTrainDefaults(options: TrainOptions): TrainOptions & Required<Pick<TrainOptions, 'optimizer' | 'labelSmoothing' | 'dropout' | 'hiddenUnits' | 'classWeights' | 'fineTuneLayers' | 'refit'>> {
  return {
    ...options,
    optimizer: options.optimizer ?? TRAIN_DEFAULTS.optimizer,
    labelSmoothing: options.labelSmoothing ?? TRAIN_DEFAULTS.labelSmoothing,
    dropout: options.dropout ?? TRAIN_DEFAULTS.dropout,
    hiddenUnits: options.hiddenUnits ?? TRAIN_DEFAULTS.hiddenUnits,
    classWeights: options.classWeights ?? TRAIN_DEFAULTS.classWeights,
    fineTuneLayers: options.fineTuneLayers ?? TRAIN_DEFAULTS.fineTuneLayers,
    refit: options.refit ?? TRAIN_DEFAULTS.refit,
  }
}

const EarlyStoppingSchema = Type.Object(
  {
    patience: Type.Integer({ minimum: 1, maximum: 100, description: 'epochs without improvement before stopping' }),
    monitor: Type.Optional(
      Type.Union([Type.Literal('valLoss'), Type.Literal('valAccuracy')], { default: TRAIN_DEFAULTS.earlyStopping.monitor, description: 'validation figure followed' }),
    ),
    minDelta: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: TRAIN_DEFAULTS.earlyStopping.minDelta, description: 'smallest change that counts as an improvement' }),
    ),
  },
  { additionalProperties: false, description: "stop when the monitored figure stalls and keep the best epoch's weights; default off" },
)

const AugmentSchema = Type.Object(
  {
    flip: Type.Optional(Type.Boolean({ default: false, description: 'mirror left-right (half the views)' })),
    crop: Type.Optional(Type.Boolean({ default: false, description: 'random square crop of 75–100 % of the side' })),
    rotate: Type.Optional(Type.Boolean({ default: false, description: 'rotate up to ±15°' })),
    brightness: Type.Optional(Type.Boolean({ default: false, description: 'shift brightness up to ±20 %' })),
    contrast: Type.Optional(Type.Boolean({ default: false, description: 'scale contrast by 0.8–1.2' })),
    views: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, default: TRAIN_DEFAULTS.augmentViews, description: 'augmented views per training image' })),
  },
  {
    additionalProperties: false,
    description: 'augmented views of the training images (validation images are never augmented), embedded once and cached; at least one change must be on; default off',
  },
)

const ClassWeightsSchema = Type.Union(
  [
    Type.Literal('auto'),
    Type.Literal('balanced'),
    Type.Literal('none'),
    Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.Number({ minimum: 0, maximum: 1000 }), {
      description: 'loss weight by class name; classes left out weigh 1',
    }),
  ],
  {
    default: TRAIN_DEFAULTS.classWeights,
    description: "'auto' (default): 'balanced' when the largest training class has ≥ 3× the images of the smallest, else 'none'; 'balanced' weighs each class by n / (classes × its count)",
  },
)

/**
 * An option group that may also be null, "off", as job documents and model params show it: any options the API returns
 * are accepted back. A type list rather than anyOf, since Ajv applies the group's defaults only outside anyOf.
 */
function orNull<T extends TObject>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: ['object', 'null'] })
}

/** The object, null or false (both meaning off), in one schema as `orNull` does: defaults inside stay valid for Ajv. */
function orOff<T extends TObject>(schema: T) {
  return Type.Unsafe<Static<T> | null | false>({ ...schema, type: ['object', 'null', 'boolean'], not: { const: true } })
}

export const CreateJobSchema = Type.Object(
  {
    datasetId: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }),
    // A default, like every option's, so the docs and the dashboard's form show which base an unnamed one gets
    // (on the request only: a default in a response schema would be written into documents that lack the field).
    baseModel: Type.Optional(baseModelSchema({ default: DEFAULT_BASE_MODEL })),
    epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: TRAIN_DEFAULTS.epochs })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, default: TRAIN_DEFAULTS.batchSize })),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, default: TRAIN_DEFAULTS.learningRate })),
    validationSplit: Type.Optional(Type.Number({ minimum: 0.05, maximum: 0.5, default: TRAIN_DEFAULTS.validationSplit })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'same dataset, options and seed give the same metrics on the same backend; default random, recorded' })),
    priority: Type.Optional(
      Type.Integer({ minimum: PRIORITY.highest, maximum: PRIORITY.lowest, default: PRIORITY.default, description: 'Lower runs first; equal priorities run in order of arrival. With API keys it orders the project\'s own queued jobs only: never ahead of another project\'s earlier job.' }),
    ),
    webhook: Type.Optional(
      Type.Object(
        { url: Type.String({ pattern: '^https?://\\S+$', maxLength: 2048, description: 'POSTed once with the final job document when the job ends.' }) },
        { additionalProperties: false },
      ),
    ),
    optimizer: Type.Optional(
      Type.Union([Type.Literal('adam'), Type.Literal('sgd')], { default: TRAIN_DEFAULTS.optimizer, description: "'sgd' uses momentum 0.9" }),
    ),
    labelSmoothing: Type.Optional(
      Type.Number({ minimum: 0, maximum: 0.5, default: TRAIN_DEFAULTS.labelSmoothing, description: 'share of each target spread over all classes' }),
    ),
    dropout: Type.Optional(Type.Number({ minimum: 0, maximum: 0.9, default: TRAIN_DEFAULTS.dropout, description: "dropout after the head's hidden layer" })),
    hiddenUnits: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 4096, default: TRAIN_DEFAULTS.hiddenUnits, description: 'width of the head hidden ReLU layer; 0 trains a plain softmax' }),
    ),
    earlyStopping: Type.Optional(orNull(EarlyStoppingSchema)),
    classWeights: Type.Optional(ClassWeightsSchema),
    // false and null (as a job document shows no augmentation) both turn it off, so head-only runs stay possible.
    augment: Type.Optional(orOff(AugmentSchema)),
    fineTuneLayers: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 50,
        default: TRAIN_DEFAULTS.fineTuneLayers,
        description:
          'top layers of the base (those with weights, batch-norm excepted) trained after the head, at a tenth of the learning rate for a quarter of the epochs (at least 1), from cached activations; 0 trains the head only. Needs a LayersModel base (mobilenet_v2, inception_v3 or a URL), not the default mobilenet_v3_coco',
      }),
    ),
    refit: Type.Optional(
      Type.Boolean({
        default: TRAIN_DEFAULTS.refit,
        description:
          "after the head is scored on the validation split, train the served head again on every image (validation ones included) for the epochs the scored run kept; the metrics then describe the scored head, trained on fewer images. Head-only jobs on the seeded split (a dataset's own val/ folder stays held out); false serves the scored head",
      }),
    ),
  },
  { additionalProperties: false },
)
export type CreateJob = Static<typeof CreateJobSchema>

/**
 * The job's options with every default applied, as the worker receives them (the worker never guesses).
 * @param classNames the dataset's classes, which explicit class weights must name
 * @throws AppError VALIDATION for what a schema cannot say (augmentation with every change off, a weight for a
 *   class the dataset lacks, fine-tuning a GraphModel base)
 */
export function trainOptions(body: CreateJob, classNames: string[]): TrainOptions {
  // A bundled GraphModel base is frozen constants, not layers (a GraphModel by URL is found out when it loads).
  if ((body.baseModel ?? DEFAULT_BASE_MODEL) === 'mobilenet_v3_coco' && (body.fineTuneLayers ?? 0) > 0) {
    throw new AppError('VALIDATION', "fineTuneLayers needs a LayersModel base: 'mobilenet_v3_coco', the default base, trains the head only (set baseModel to mobilenet_v2 or inception_v3 to fine-tune)")
  }
  const augment = body.augment
  if (augment && !(augment.flip || augment.crop || augment.rotate || augment.brightness || augment.contrast)) {
    throw new AppError('VALIDATION', 'augment needs at least one of flip, crop, rotate, brightness, contrast set to true')
  }
  checkClassWeightNames(body.classWeights, classNames)
  return {
    epochs: body.epochs ?? TRAIN_DEFAULTS.epochs,
    batchSize: body.batchSize ?? TRAIN_DEFAULTS.batchSize,
    learningRate: body.learningRate ?? TRAIN_DEFAULTS.learningRate,
    validationSplit: body.validationSplit ?? TRAIN_DEFAULTS.validationSplit,
    // Recorded in the job, so any run can be repeated exactly.
    seed: body.seed ?? randomInt(2 ** 31 - 1),
    optimizer: body.optimizer ?? TRAIN_DEFAULTS.optimizer,
    labelSmoothing: body.labelSmoothing ?? TRAIN_DEFAULTS.labelSmoothing,
    dropout: body.dropout ?? TRAIN_DEFAULTS.dropout,
    hiddenUnits: body.hiddenUnits ?? TRAIN_DEFAULTS.hiddenUnits,
    earlyStopping: body.earlyStopping
      ? {
          patience: body.earlyStopping.patience,
          monitor: body.earlyStopping.monitor ?? TRAIN_DEFAULTS.earlyStopping.monitor,
          minDelta: body.earlyStopping.minDelta ?? TRAIN_DEFAULTS.earlyStopping.minDelta,
        }
      : null,
    classWeights: body.classWeights ?? TRAIN_DEFAULTS.classWeights,
    augment: augment
      ? {
          flip: augment.flip ?? false,
          crop: augment.crop ?? false,
          rotate: augment.rotate ?? false,
          brightness: augment.brightness ?? false,
          contrast: augment.contrast ?? false,
          views: augment.views ?? TRAIN_DEFAULTS.augmentViews,
        }
      : null,
    fineTuneLayers: body.fineTuneLayers ?? TRAIN_DEFAULTS.fineTuneLayers,
    refit: body.refit ?? TRAIN_DEFAULTS.refit,
  }
}

/**
 * One epoch's figures, in a job's history and a model's alike; losses are mean categorical cross-entropy, accuracies
 * in [0, 1]. (`description`s stay out of this one: the OpenAPI document is unchanged by moving it here.)
 */
export const EpochSchema = Type.Object({
  /** 1-based, counting on through fine-tuning. */
  epoch: Type.Integer(),
  /** Mean over the epoch's batches, in training mode (dropout on), as Keras reports it. */
  loss: Type.Number(),
  accuracy: Type.Number(),
  /** On the validation set after the epoch, inference mode. */
  valLoss: Type.Optional(Type.Number()),
  valAccuracy: Type.Optional(Type.Number()),
  /** Step size the optimizer used in this epoch (absent in records written before it was kept). */
  learningRate: Type.Optional(Type.Number()),
  /** Set on fine-tuning epochs (the head's epochs leave it out). */
  phase: Type.Optional(Type.Literal('fineTune')),
  /** Wall time of the epoch. */
  seconds: Type.Number(),
})

/** One epoch in a job's progress and history and in a model's history. */
export type EpochRecord = Static<typeof EpochSchema>

/** A figure with its uncertainty: the 10th and 90th percentiles over bootstrap resamples of the images. */
const EstimateSchema = Type.Object(
  { estimate: Type.Number(), low: Type.Number(), high: Type.Number() },
  { description: 'A projection with its 10th–90th percentile interval over 200 bootstrap resamples of the images' },
)

export const LabelIssueSchema = Type.Object({
  path: Type.String({ description: '`images/<class>/<file>` as in the dataset' }),
  label: Type.String({ description: 'the class it is labelled with' }),
  suggested: Type.String({ description: 'the class the out-of-fold probes find likelier' }),
  confidence: Type.Number({ description: 'p(suggested) − p(label), out of fold, in (0, 1]; the list is sorted by it' }),
})

/** See `findLabelIssues` (ml/label-issues.ts). */
export type LabelIssueReport = Static<typeof LabelIssueSchema>

export const NearDuplicateSchema = Type.Object({
  a: Type.String({ description: 'dataset path of one image' }),
  b: Type.String({ description: 'dataset path of the other' }),
  similarity: Type.Number({ description: 'the higher score of the tests that fired: cosine of the centred base features (≥ 0.98) or correlation of blurred 8×8 grey thumbnails, whole or centre 90 % (≥ 0.99)' }),
  crossClass: Type.Boolean({ description: 'the two carry different labels' }),
  crossSplit: Type.Boolean({ description: 'one is in the training split, the other in validation: the metrics are inflated' }),
})

/** See `findNearDuplicates` (ml/near-duplicates.ts). */
export type NearDuplicateReport = Static<typeof NearDuplicateSchema>

/** A validation image the model gets wrong: its dataset path (or image hash), true and predicted class, and the wrong class's probability. */
export const MisclassifiedSchema = Type.Object({ path: Type.String(), true: Type.String(), predicted: Type.String(), score: Type.Number() })
export type MisclassifiedImage = Static<typeof MisclassifiedSchema>

export const ClassGuidanceSchema = Type.Object(
  {
    confusedPairs: Type.Array(
      Type.Object({ a: Type.String(), b: Type.String(), aAsB: Type.Integer(), bAsA: Type.Integer(), rate: Type.Number({ description: '(aAsB + bAsA) / images of a and b' }) }),
      { description: 'Class pairs the out-of-fold probes confuse, worst first (at most 10)' },
    ),
    learningCurve: Type.Array(
      Type.Object({ fraction: Type.Number(), imagesPerClass: Type.Number(), accuracy: Type.Number() }),
      { description: 'Out-of-fold accuracy of probes trained on 25/50/75/100 % of the training folds' },
    ),
    accuracyAtDouble: Type.Union([EstimateSchema, Type.Null()], { description: 'Projected accuracy with twice the images in every class' }),
    classes: Type.Array(
      Type.Object({
        label: Type.String(),
        images: Type.Integer(),
        recall: Type.Number({ description: 'out-of-fold recall with all the images' }),
        recallAtDouble: Type.Union([EstimateSchema, Type.Null()], { description: 'projected recall with twice this class’s images' }),
        moreImagesToHalveError: Type.Union(
          [Type.Object({ estimate: Type.Union([Type.Integer(), Type.Null()]), low: Type.Union([Type.Integer(), Type.Null()]), high: Type.Union([Type.Integer(), Type.Null()]) }), Type.Null()],
          { description: 'images to add to halve this class’s error by a fitted power law; null bounds: the curve is flat (more images unlikely to help) or the error is zero' },
        ),
      }),
    ),
  },
  { description: 'Per-class guidance from k-fold linear probes on the cached features (see README, "Data insights")' },
)

/** The stages a job goes through, in order. */
export const JobPhaseSchema = Type.Union([
  Type.Literal('queued'),
  Type.Literal('preparing'),
  Type.Literal('extracting'),
  Type.Literal('training'),
  Type.Literal('evaluating'),
  Type.Literal('saving'),
  Type.Literal('done'),
])
export type JobPhase = Static<typeof JobPhaseSchema>

const PROGRESS_FIELDS = {
  epoch: Type.Integer(),
  epochs: Type.Integer(),
  /** 0–100, never decreasing. */
  percent: Type.Number(),
  etaSeconds: Type.Union([Type.Number(), Type.Null()], {
    description: 'Seconds left, from measured rates: while extracting features, the extraction left (training time is unknown until an epoch has run); from the first epoch on, the whole job. Null while unknown.',
  }),
  resumedFromEpoch: Type.Optional(Type.Integer({ description: 'Set when the latest attempt continued from a checkpoint after this epoch.' })),
}

/**
 * What the worker reports through `job.updateProgress` (replaced whole each time): the job document's `progress`
 * plus its phase and history.
 */
export const TrainProgressSchema = Type.Object({ phase: JobPhaseSchema, ...PROGRESS_FIELDS, history: Type.Array(EpochSchema) })
export type TrainProgress = Static<typeof TrainProgressSchema>

/** What `result.classGuidance` says; see `classGuidance` (ml/class-guidance.ts). */
export type ClassGuidance = Static<typeof ClassGuidanceSchema>

/** What a completed job returns (BullMQ's `returnvalue`), and `result` in its document. */
export const TrainResultSchema = Type.Object({
  modelId: Type.String(),
  metrics: MetricsSchema,
  trainCount: Type.Integer(),
  valCount: Type.Integer(),
  backend: Type.String(),
  /** Set by every worker that returns a result (the worker process turns it into metrics); absent on older jobs. */
  featureCache: Type.Optional(Type.Object({ hits: Type.Integer(), misses: Type.Integer() }, { description: 'Feature-cache lookups of this job: hits skipped decoding and the base model.' })),
  /** 'validation', or 'training' when there was no validation split (a plain string in the OpenAPI document). */
  evaluatedOn: Type.Optional(Type.Unsafe<'validation' | 'training'>(Type.String())),
  /** With early stopping (and after fine-tuning) the best epoch by the monitor, else the last. */
  bestEpoch: Type.Optional(Type.Integer({ description: 'epoch whose weights the model has' })),
  history: Type.Optional(Type.Array(EpochSchema)),
  /** Most confident first. */
  misclassified: Type.Optional(Type.Array(MisclassifiedSchema)),
  /** Tiny classes, imbalance, classes without validation images, identical images across classes or the split. */
  warnings: Type.Optional(Type.Array(Type.String())),
  /** Loss weight per class as used; null when unweighted. */
  classWeights: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()])),
  fineTuned: Type.Optional(Type.Union([Type.Object({ cutLayer: Type.String(), layers: Type.Array(Type.String()) }), Type.Null()])),
  /** Training examples including augmented views. */
  trainViews: Type.Optional(Type.Integer()),
  labelIssues: Type.Optional(Type.Array(LabelIssueSchema, { description: 'Images whose label is probably wrong, most likely first (at most 200)' })),
  nearDuplicates: Type.Optional(Type.Array(NearDuplicateSchema, { description: 'Near-identical image pairs, most similar first (at most 500)' })),
  classGuidance: Type.Optional(ClassGuidanceSchema),
})
export type TrainResult = Static<typeof TrainResultSchema>

export const JobSchema = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('active'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')]),
  phase: Type.String(),
  progress: Type.Object(PROGRESS_FIELDS),
  history: Type.Array(EpochSchema),
  datasetId: Type.String(),
  baseModel: baseModelSchema(),
  // Jobs queued before an option existed lack it, so the newer ones are optional here.
  options: Type.Object({
    epochs: Type.Integer(),
    batchSize: Type.Integer(),
    learningRate: Type.Number(),
    validationSplit: Type.Number(),
    seed: Type.Integer(),
    optimizer: Type.Optional(Type.String()),
    labelSmoothing: Type.Optional(Type.Number()),
    dropout: Type.Optional(Type.Number()),
    hiddenUnits: Type.Optional(Type.Integer()),
    earlyStopping: Type.Optional(Type.Union([Type.Unknown(), Type.Null()])),
    classWeights: Type.Optional(Type.Unknown()),
    augment: Type.Optional(Type.Union([Type.Unknown(), Type.Null()])),
    fineTuneLayers: Type.Optional(Type.Integer()),
    refit: Type.Optional(Type.Boolean()),
  }),
  priority: Type.Integer(),
  queuePosition: Type.Union([Type.Integer(), Type.Null()], { description: 'Jobs that start before this one while it is queued (0: next).' }),
  worker: Type.Union([Type.String(), Type.Null()], { description: 'hostname:pid of the worker that runs it or ran it last; null with API keys (only open mode names the machine: its caller runs the service).' }),
  attempts: Type.Integer(),
  queuedAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  result: Type.Optional(TrainResultSchema),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
})
