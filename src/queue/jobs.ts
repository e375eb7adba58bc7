/**
 * The one contract between the API and the workers. Payloads are plain JSON: BullMQ stringifies `data`,
 * `progress` and `returnvalue`.
 */
import type { JobsOptions } from 'bullmq'
import { isErrorCode, type ErrorCode } from '../errors.js'
import type { ClassGuidance } from '../ml/class-guidance.js'
import type { LabelIssueReport, NearDuplicateReport } from '../ml/data-insights.js'

export const TRAINING_QUEUE = 'training'
export const TRAIN_MODEL_JOB = 'train-model'

/**
 * A base model: a bundled id, the name of a base uploaded with `POST /bases` (any other string; the worker looks it
 * up when the job starts), or any tfjs LayersModel or GraphModel by URL or path.
 */
export type BaseModelRef =
  | 'mobilenet_v2'
  | 'inception_v3'
  | 'mobilenet_v3_coco'
  | (string & {})
  | { url: string; inputSize?: number; featureLayer?: string; preprocessing?: 'scale_0_1' | 'scale_-1_1' | 'raw_0_255' }

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
 * equal the API's (see TRAIN_DEFAULTS in the job schema).
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
  /** Called once with the final job document when the job ends (see workers/webhooks.ts). */
  webhook?: { url: string }
  /**
   * SHA-256 of the POST body that queued the job under an Idempotency-Key: a retry with the same key must send the
   * same body. Absent without a key; the worker ignores it.
   */
  requestHash?: string
}

export type JobPhase = 'queued' | 'preparing' | 'extracting' | 'training' | 'evaluating' | 'saving' | 'done'

export interface EpochRecord {
  epoch: number
  loss: number
  accuracy: number
  valLoss?: number
  valAccuracy?: number
  /** Step size of the epoch. */
  learningRate?: number
  /** 'fineTune' on epochs that trained the base's top layers. */
  phase?: 'fineTune'
  seconds: number
}

/** What the worker reports through `job.updateProgress`; replaced whole each time. */
export interface TrainProgress {
  phase: JobPhase
  /** 0–100, never decreasing. */
  percent: number
  epoch: number
  epochs: number
  /** While extracting: the extraction left; from the first epoch on: the whole job; null while unknown (workers/progress.ts). */
  etaSeconds: number | null
  history: EpochRecord[]
  /** Set when this attempt continued from a checkpoint: the epochs it did not have to run again. */
  resumedFromEpoch?: number
}

export interface TrainResult {
  modelId: string
  /** Accuracy, top-k, per-class precision/recall/F1/support, averages, confusion matrix (by index and by name). */
  metrics: unknown
  trainCount: number
  valCount: number
  backend: string
  /** Feature-cache lookups of this run; the worker process turns them into metrics. */
  featureCache: { hits: number; misses: number }
  /** 'validation', or 'training' when there was no validation split. */
  evaluatedOn?: 'validation' | 'training'
  /** Epoch whose weights the model has: with early stopping (and after fine-tuning) the best by the monitor, else the last. */
  bestEpoch?: number
  history?: EpochRecord[]
  /** Wrong validation predictions, most confident first: dataset path, true and predicted class, score. */
  misclassified?: { path: string; true: string; predicted: string; score: number }[]
  /** Tiny classes, imbalance, classes without validation images, identical images across classes or the split. */
  warnings?: string[]
  /** Loss weight per class as used; null when unweighted. */
  classWeights?: Record<string, number> | null
  fineTuned?: { cutLayer: string; layers: string[] } | null
  /** Training examples including augmented views. */
  trainViews?: number
  /** Images whose label k-fold probes find unlikely, most likely wrong first (absent on older jobs). */
  labelIssues?: LabelIssueReport[]
  /** Image pairs whose embeddings are near-identical, most similar first, with class and split leakage flagged. */
  nearDuplicates?: NearDuplicateReport[]
  /** Confused class pairs, the learning curve and per-class projections of more images. */
  classGuidance?: ClassGuidance
}

/**
 * A failed job's reason is `CODE: message`, so the code survives BullMQ (which keeps only the message) and the
 * sandbox boundary (which turns errors into plain Errors).
 */
export function failureReason(code: ErrorCode, message: string): string {
  return `${code}: ${message}`
}

export function parseFailureReason(reason: string | undefined): { code: ErrorCode; message: string } {
  const match = /^([A-Z_]+): ([\s\S]*)$/.exec(reason ?? '')
  if (match && isErrorCode(match[1])) return { code: match[1], message: match[2] ?? '' }
  return { code: 'TRAINING_FAILED', message: reason || 'training failed' }
}

/**
 * Every job gets a priority (BullMQ's: 1 runs first). BullMQ runs jobs without one before all prioritised jobs, so a
 * default keeps "priority 1" meaning "ahead of the rest".
 */
export const PRIORITY = { highest: 1, lowest: 100, default: 50 } as const

/**
 * Infrastructure faults retry with backoff; bad input fails at once through UnrecoverableError. Finished jobs
 * (cancelled ones are failed jobs) stay readable for `retentionSeconds`.
 */
/** Tries a training job gets: infrastructure faults retry with backoff, bad input fails at once. */
export const TRAIN_ATTEMPTS = 3

export function trainJobOptions(retentionSeconds: number, priority: number): JobsOptions {
  return {
    attempts: TRAIN_ATTEMPTS,
    backoff: { type: 'exponential', delay: 5_000 },
    priority,
    removeOnComplete: { age: retentionSeconds },
    removeOnFail: { age: retentionSeconds },
  }
}

/**
 * Reasons a running job's AbortSignal fires with (`worker.cancelJob(id, reason)` carries them into the sandbox):
 * a user cancelled it, or its worker is shutting down and hands it back to the queue.
 */
export const ABORT_REASON = { cancel: 'JOB_CANCELLED', shutdown: 'WORKER_SHUTDOWN' } as const

/** The custom QueueEvents event that asks whichever worker runs `jobId` to cancel it. */
export const CANCEL_REQUESTED_EVENT = 'cancel-requested'
