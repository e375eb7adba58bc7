import type { Metrics } from '../contract/metrics.js'
import type { JobState } from 'bullmq'
import type { ErrorCode } from '../errors.js'
import { parseFailureReason, type BaseModelRef, type EpochRecord, type JobPhase, type TrainOptions, type TrainProgress, type TrainResult } from './jobs.js'

export type JobStatus = 'queued' | 'active' | 'completed' | 'failed' | 'cancelled'

/** What `GET /jobs/:id` answers: the public view of one training job. */
export interface JobDocument {
  id: string
  status: JobStatus
  phase: JobPhase
  progress: { epoch: number; epochs: number; percent: number; etaSeconds: number | null; resumedFromEpoch?: number }
  history: EpochRecord[]
  datasetId: string
  baseModel: BaseModelRef
  options: TrainOptions
  /** 1 runs first: BullMQ's priority, or with keys the caller's, which orders the project's own jobs only. */
  priority: number
  /** Jobs that start before this one (0: it is next); null unless it is queued (a retry waiting out its backoff is not). */
  queuePosition: number | null
  /** `hostname:pid` of the worker that runs it, or ran it last; null for a tenant's job (queued with keys). */
  worker: string | null
  /** Attempts that ran to an end (completed, or failed whether retried or not); a crash resumed from a checkpoint is not one. */
  attempts: number
  queuedAt: string
  startedAt: string | null
  finishedAt: string | null
  result?: { modelId: string; metrics: Metrics; trainCount: number; valCount: number; backend: string }
  error?: { code: ErrorCode; message: string }
}

/** The fields of a BullMQ job this view reads; a plain shape so the mapping stays a pure function. */
export interface JobSnapshot {
  id: string
  state: JobState | 'unknown'
  data: { datasetId: string; baseModel: BaseModelRef; options: TrainOptions; keyed?: true; priority?: number }
  progress: unknown
  returnvalue: unknown
  failedReason: string | undefined
  attemptsMade: number
  priority: number
  queuePosition: number | null
  processedBy: string | undefined
  timestamp: number
  processedOn: number | undefined
  finishedOn: number | undefined
}

function isTrainProgress(value: unknown): value is TrainProgress {
  return typeof value === 'object' && value !== null && 'phase' in value && 'percent' in value
}

function statusOf(state: JobSnapshot['state'], errorCode: ErrorCode | undefined): JobStatus {
  switch (state) {
    case 'active':
      return 'active'
    case 'completed':
      return 'completed'
    case 'failed':
      return errorCode === 'JOB_CANCELLED' ? 'cancelled' : 'failed'
    default:
      return 'queued'
  }
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null)

export function toJobDocument(job: JobSnapshot): JobDocument {
  const error = job.state === 'failed' ? parseFailureReason(job.failedReason) : undefined
  const status = statusOf(job.state, error?.code)
  const reported = isTrainProgress(job.progress) ? job.progress : undefined
  const epochs = job.data.options.epochs
  const progress = reported ?? { phase: 'queued', percent: 0, epoch: 0, epochs, etaSeconds: null, history: [] }
  const doc: JobDocument = {
    id: job.id,
    status,
    phase: status === 'completed' ? 'done' : progress.phase,
    progress: {
      epoch: progress.epoch,
      epochs: progress.epochs,
      percent: status === 'completed' ? 100 : progress.percent,
      etaSeconds: status === 'active' ? progress.etaSeconds : null,
      ...(progress.resumedFromEpoch !== undefined && { resumedFromEpoch: progress.resumedFromEpoch }),
    },
    history: progress.history,
    datasetId: job.data.datasetId,
    baseModel: job.data.baseModel,
    options: job.data.options,
    priority: job.data.priority ?? job.priority,
    queuePosition: status === 'queued' ? job.queuePosition : null,
    // Which machine runs a job is the operator's business: the worker's log lines for the job carry it.
    worker: job.data.keyed ? null : (job.processedBy ?? null),
    attempts: job.attemptsMade,
    queuedAt: new Date(job.timestamp).toISOString(),
    startedAt: iso(job.processedOn),
    finishedAt: status === 'completed' || status === 'failed' || status === 'cancelled' ? iso(job.finishedOn) : null,
  }
  if (status === 'completed') doc.result = job.returnvalue as TrainResult
  if (error && status !== 'completed') doc.error = error
  return doc
}
