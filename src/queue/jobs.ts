/**
 * The one contract between the API and the workers. Payloads are plain JSON: BullMQ stringifies `data`,
 * `progress` and `returnvalue`.
 */
import type { JobsOptions } from 'bullmq'
import { isErrorCode, type ErrorCode } from '../errors.js'

export const TRAINING_QUEUE = 'training'
export const TRAIN_MODEL_JOB = 'train-model'

/** A base model: a bundled id or any tfjs LayersModel by URL or path. */
export type BaseModelRef = 'mobilenet_v2' | 'inception_v3' | { url: string; inputSize?: number; featureLayer?: string }

/** Hyper-parameters after defaults are applied; the worker never guesses. */
export interface TrainOptions {
  epochs: number
  batchSize: number
  learningRate: number
  validationSplit: number
  seed: number
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
}

export type JobPhase = 'queued' | 'preparing' | 'extracting' | 'training' | 'evaluating' | 'saving' | 'done'

export interface EpochRecord {
  epoch: number
  loss: number
  accuracy: number
  valLoss?: number
  valAccuracy?: number
  seconds: number
}

/** What the worker reports through `job.updateProgress`; replaced whole each time. */
export interface TrainProgress {
  phase: JobPhase
  /** 0–100, never decreasing. */
  percent: number
  epoch: number
  epochs: number
  etaSeconds: number | null
  history: EpochRecord[]
  /** Set when this attempt continued from a checkpoint: the epochs it did not have to run again. */
  resumedFromEpoch?: number
}

export interface TrainResult {
  modelId: string
  metrics: unknown
  trainCount: number
  valCount: number
  backend: string
  /** Feature-cache lookups of this run; the worker process turns them into metrics. */
  featureCache: { hits: number; misses: number }
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
