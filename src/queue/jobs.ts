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

/** Infrastructure faults retry with backoff; bad input fails at once through UnrecoverableError. */
export const TRAIN_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 1_000 },
  removeOnFail: false,
}
