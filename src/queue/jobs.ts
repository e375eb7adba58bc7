/**
 * The queue's side of the API↔worker contract: names, progress, result, failure reasons, job options. The job
 * payload and training options are declared in src/contract/jobs.ts. Payloads are plain JSON: BullMQ stringifies
 * `data`, `progress` and `returnvalue`.
 */
import type { JobsOptions } from 'bullmq'
import { isErrorCode, type ErrorCode } from '../errors.js'

// The payload's shape lives in the contract; re-exported here for the modules that read it with the queue's names.
export { DEFAULT_BASE_MODEL, PRIORITY, type BaseModelRef, type EpochRecord, type JobPhase, type TrainModelJob, type TrainOptions, type TrainProgress, type TrainResult } from '../contract/jobs.js'

export const TRAINING_QUEUE = 'training'
export const TRAIN_MODEL_JOB = 'train-model'

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
