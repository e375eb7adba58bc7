import { Queue, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import { AppError } from '../errors.js'
import type { LogSink } from '../logger.js'
import { redisConnection } from './connection.js'
import { toJobDocument, type JobDocument } from './job-document.js'
import { TRAIN_JOB_OPTIONS, TRAIN_MODEL_JOB, TRAINING_QUEUE, type TrainModelJob, type TrainResult } from './jobs.js'

type TrainJob = Job<TrainModelJob, TrainResult>

/** The states a job is listed under, newest first; "unfinished" ones block deleting their dataset. */
const UNFINISHED_STATES = ['active', 'waiting', 'prioritized', 'delayed', 'waiting-children'] as const
const ALL_STATES = [...UNFINISHED_STATES, 'completed', 'failed'] as const

export interface TrainingQueue {
  enqueue(jobId: string, data: TrainModelJob): Promise<JobDocument>
  get(jobId: string): Promise<JobDocument | undefined>
  list(limit: number): Promise<JobDocument[]>
  isDatasetInUse(datasetId: string): Promise<boolean>
  /** Jobs of `owner` still queued or running. */
  countUnfinished(owner: string): Promise<number>
  /** Jobs per BullMQ state (waiting, active, completed, failed, delayed, …), for metrics. */
  counts(): Promise<Record<string, number>>
  ping(): Promise<void>
  close(): Promise<void>
}

async function snapshot(job: TrainJob): Promise<JobDocument> {
  return toJobDocument({
    id: job.id ?? '',
    state: await job.getState(),
    data: job.data,
    progress: job.progress,
    returnvalue: job.returnvalue,
    failedReason: job.failedReason,
    attemptsMade: job.attemptsMade,
    timestamp: job.timestamp,
    processedOn: job.processedOn,
    finishedOn: job.finishedOn,
  })
}

/** Redis being down must read as 503 with a code, not as a generic 500. */
async function queueCall<T>(log: LogSink, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (err instanceof AppError) throw err
    log.error({ err }, `queue ${what} failed`)
    throw new AppError('QUEUE_UNAVAILABLE', `the job queue is unavailable: ${(err as Error).message}`)
  }
}

export function createTrainingQueue(opts: { redisUrl: string; prefix: string; log: LogSink }): TrainingQueue {
  const connection: Redis = redisConnection(opts.redisUrl, 'api')
  const queue = new Queue<TrainModelJob, TrainResult>(TRAINING_QUEUE, { connection, prefix: opts.prefix })
  queue.on('error', (err) => opts.log.error({ err }, 'training queue error'))
  const call = <T>(what: string, fn: () => Promise<T>) => queueCall(opts.log, what, fn)

  return {
    enqueue: (jobId, data) =>
      call('enqueue', async () => snapshot(await queue.add(TRAIN_MODEL_JOB, data, { ...TRAIN_JOB_OPTIONS, jobId }))),
    get: (jobId) =>
      call('get', async () => {
        const job = await queue.getJob(jobId)
        return job ? snapshot(job) : undefined
      }),
    list: (limit) =>
      call('list', async () => {
        const jobs = await queue.getJobs([...ALL_STATES], 0, limit - 1, false)
        const docs = await Promise.all(jobs.filter((j): j is TrainJob => Boolean(j)).map(snapshot))
        return docs.sort((a, b) => b.queuedAt.localeCompare(a.queuedAt)).slice(0, limit)
      }),
    isDatasetInUse: (datasetId) =>
      call('scan', async () => {
        const jobs = await queue.getJobs([...UNFINISHED_STATES])
        return jobs.some((job) => job?.data.datasetId === datasetId)
      }),
    countUnfinished: (owner) =>
      call('scan', async () => {
        const jobs = await queue.getJobs([...UNFINISHED_STATES])
        return jobs.filter((job) => job?.data.owner === owner).length
      }),
    counts: () => call('counts', () => queue.getJobCounts()),
    ping: () => call('ping', async () => void (await connection.ping())),
    close: async () => {
      await queue.close()
      connection.disconnect()
    },
  }
}
