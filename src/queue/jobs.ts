/**
 * The queue's side of the API↔worker contract: names, progress, result, failure reasons, job options. The job
 * payload and training options are declared in src/contract/jobs.ts. Payloads are plain JSON: BullMQ stringifies
 * `data`, `progress` and `returnvalue`.
 */
import type { JobsOptions } from 'bullmq'
import type { ClassGuidance, EpochRecord, LabelIssueReport, MisclassifiedImage, NearDuplicateReport } from '../contract/jobs.js'
import type { Metrics } from '../contract/metrics.js'
import { isErrorCode, type ErrorCode } from '../errors.js'

// The payload's shape lives in the contract; re-exported here for the modules that read it with the queue's names.
export { DEFAULT_BASE_MODEL, PRIORITY, type BaseModelRef, type EpochRecord, type JobPhase, type TrainModelJob, type TrainOptions, type TrainProgress } from '../contract/jobs.js'

export const TRAINING_QUEUE = 'training'
export const TRAIN_MODEL_JOB = 'train-model'

export interface TrainResult {
  modelId: string
  /** Accuracy, top-k, per-class precision/recall/F1/support, averages, confusion matrix (by index and by name). */
  metrics: Metrics
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
  misclassified?: MisclassifiedImage[]
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


/** Tries a training job gets: infrastructure faults retry with backoff, bad input fails at once. */
export const TRAIN_ATTEMPTS = 3

/**
 * Infrastructure faults retry with backoff; bad input fails at once through UnrecoverableError. Finished jobs
 * (cancelled ones are failed jobs) stay readable for `retentionSeconds`.
 */
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
