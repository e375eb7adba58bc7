import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { AppError, causeCode } from '../errors.js'
import type { LogSink } from '../logger.js'
import { cancelJob, type CancelOutcome } from './cancel.js'
import { redisConnection } from './connection.js'
import { createJobEvents, type JobEvents } from './job-events.js'
import { createJobIndex, jobIdOf, jobIndexKey } from './job-index.js'
import type { JobDocument, JobStatus } from './job-document.js'
import { createJobReader, createProjectJobReader, projectOf, snapshotJob } from './job-reader.js'
import { reorderProjectJobs } from './project-order.js'
import { enqueueWebhook, WEBHOOK_QUEUE, type WebhookDelivery } from './webhooks.js'
import { failureReason, trainJobOptions, TRAIN_MODEL_JOB, TRAINING_QUEUE, type TrainModelJob, type TrainResult } from './jobs.js'

/** The states a job is listed under, newest first; "unfinished" ones block deleting their dataset. */
const UNFINISHED_STATES = ['active', 'waiting', 'prioritized', 'delayed', 'waiting-children'] as const
/** Index members read per round while filling one page of `list`, and the most one request reads. */
const LIST_ROUND = 100
const LIST_SCAN_MAX = 2_000
/** How long one admission holds its project's lock at most, ms: a replica that dies holding it frees it after this. */
const ADMISSION_LOCK_MS = 10_000
/** How long an admission waits for its project's lock before answering 503, ms. */
const ADMISSION_WAIT_MS = 5_000
/** Deletes the lock only if it is still ours (it may have expired and been taken by another admission). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

export interface ListQuery {
  /** Only this project's jobs. */
  projectId: string
  status?: JobStatus | undefined
  limit: number
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined
}

export interface TrainingQueue {
  /**
   * Adds the job, or answers with the stored one when `jobId` exists (an idempotent retry): 422
   * IDEMPOTENCY_KEY_REUSED when its `requestHash` differs.
   */
  enqueue(jobId: string, data: TrainModelJob, priority: number): Promise<JobDocument>
  /**
   * Runs `admit` while no other admission of the project runs on any replica (a lock in Redis), so counting the
   * unfinished jobs and queueing one are a single step for the queue quotas. @throws AppError QUEUE_UNAVAILABLE
   */
  admit<T>(projectId: string, admit: () => Promise<T>): Promise<T>
  /** Given a `projectId`, a job of another project reads as missing (404 like an unknown id). */
  get(jobId: string, projectId?: string): Promise<JobDocument | undefined>
  /** Newest first; `nextCursor` is null on the last page. A page may hold fewer than `limit` jobs and a cursor. */
  list(query: ListQuery): Promise<{ jobs: JobDocument[]; nextCursor: string | null }>
  /**
   * See `cancelJob`: a queued job is failed with JOB_CANCELLED at once; a running one's worker is told to stop.
   * `webhook` is the job's, when this call ended it (`cancelled`), for job-end handling.
   */
  cancel(jobId: string, projectId: string): Promise<{ outcome: CancelOutcome; webhook?: { url: string } | undefined }>
  /** Queues a webhook delivery (a job cancelled while queued never reaches a worker). */
  notifyWebhook(delivery: WebhookDelivery): Promise<void>
  events: JobEvents
  isDatasetInUse(datasetId: string, projectId: string): Promise<boolean>
  /** Whether a queued or running job of the project trains on the uploaded base `name`. */
  isBaseInUse(name: string, projectId: string): Promise<boolean>
  /** Jobs still queued or running: of the project, and of one key (`owner`) in it when given. */
  countUnfinished(projectId: string, owner?: string): Promise<{ project: number; owner: number }>
  /** Removes the project's finished jobs (a deleted project's); its unfinished ones must be gone already. */
  removeFinished(projectId: string): Promise<void>
  /** Jobs per BullMQ state (waiting, active, completed, failed, delayed, …), for metrics. */
  counts(): Promise<Record<string, number>>
  ping(): Promise<void>
  close(): Promise<void>
}

/** Redis being down must read as 503 with a code, not as a generic 500. */
async function queueCall<T>(log: LogSink, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (err instanceof AppError) throw err
    log.error({ err }, `queue ${what} failed`)
    throw new AppError('QUEUE_UNAVAILABLE', `the job queue is unavailable (${causeCode(err)})`, { cause: causeCode(err) })
  }
}

export function createTrainingQueue(opts: { redisUrl: string; prefix: string; retentionSeconds: number; log: LogSink }): TrainingQueue {
  const connection: Redis = redisConnection(opts.redisUrl, 'api', opts.log)
  const queue = new Queue<TrainModelJob, TrainResult>(TRAINING_QUEUE, { connection, prefix: opts.prefix })
  queue.on('error', (err) => opts.log.error({ err }, 'training queue error'))
  // A job cancelled while queued never reaches a worker, so its webhook is queued from here.
  const webhooks = new Queue<WebhookDelivery>(WEBHOOK_QUEUE, { connection, prefix: opts.prefix })
  webhooks.on('error', (err) => opts.log.error({ err }, 'webhook queue error'))
  const indexOf = (projectId: string) => createJobIndex(connection, queue.toKey(jobIndexKey(projectId)), opts.retentionSeconds)
  const events = createJobEvents({ redisUrl: opts.redisUrl, prefix: opts.prefix, client: connection, eventsKey: queue.toKey('events'), log: opts.log })
  const call = <T>(what: string, fn: () => Promise<T>) => queueCall(opts.log, what, fn)

  const get = createJobReader(queue, connection)
  const read = createProjectJobReader(queue, connection)

  return {
    events,
    enqueue: (jobId, data, priority) =>
      call('enqueue', async () => {
        const added = await queue.add(TRAIN_MODEL_JOB, data, { ...trainJobOptions(opts.retentionSeconds, priority), jobId })
        // BullMQ adds an id once but answers a repeat with the caller's data and a new timestamp: what counts is what
        // Redis holds, read back (also settles two first requests racing with the same key).
        const job = (await queue.getJob(jobId)) ?? added
        if (job.data.requestHash !== data.requestHash) {
          throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request body; use a new key for a new job')
        }
        await indexOf(projectOf(job.data)).add(job.timestamp, jobId)
        // A tenant's priority orders its own jobs only (see TrainModelJob.priority).
        if (job.data.priority !== undefined) await reorderProjectJobs(connection, queue.toKey(jobIndexKey(projectOf(job.data))), queue.toKey('prioritized'), queue.toKey(''))
        return snapshotJob(queue, connection, job, await job.getState())
      }),
    async admit(projectId, admit) {
      const lock = queue.toKey(`admission:${projectId}`)
      const token = randomUUID()
      const deadline = Date.now() + ADMISSION_WAIT_MS
      while ((await call('lock', () => connection.set(lock, token, 'PX', ADMISSION_LOCK_MS, 'NX'))) !== 'OK') {
        if (Date.now() > deadline) throw new AppError('QUEUE_UNAVAILABLE', `jobs of project ${projectId} are being queued by other requests; retry shortly`)
        await sleep(10 + Math.random() * 20)
      }
      try {
        return await admit()
      } finally {
        await connection.eval(RELEASE_SCRIPT, 1, lock, token).catch((err: unknown) => opts.log.warn({ err, projectId }, `admission lock not released; it expires in ${ADMISSION_LOCK_MS} ms`))
      }
    },
    get: (jobId, projectId) => call('get', () => get(jobId, projectId)),
    list: ({ projectId, status, limit, cursor }) =>
      call('list', async () => {
        const index = indexOf(projectId)
        const jobs: JobDocument[] = []
        let from = cursor
        for (let scanned = 0; scanned < LIST_SCAN_MAX; ) {
          const members = await index.page(from, LIST_ROUND)
          const found = await Promise.all(members.map((m) => read(jobIdOf(m))))
          await index.prune(members.filter((_, i) => found[i] === undefined))
          const docs = found.map((f) => (f?.projectId === projectId ? f.doc : undefined))
          for (const [i, doc] of docs.entries()) {
            from = members[i]
            if (doc && (!status || doc.status === status)) jobs.push(doc)
            if (jobs.length === limit) return { jobs, nextCursor: i + 1 < members.length || members.length === LIST_ROUND ? from! : null }
          }
          scanned += members.length
          if (members.length < LIST_ROUND) return { jobs, nextCursor: null }
        }
        return { jobs, nextCursor: from ?? null }
      }),
    cancel: (jobId, projectId) =>
      call('cancel', async () => {
        const job = await queue.getJob(jobId)
        if (!job || projectOf(job.data) !== projectId) return { outcome: 'missing' as const }
        const outcome = await cancelJob(connection, queue, jobId, failureReason('JOB_CANCELLED', 'cancelled while queued'))
        const webhook = outcome === 'cancelled' ? (await queue.getJob(jobId))?.data.webhook : undefined
        return { outcome, webhook }
      }),
    notifyWebhook: (delivery) => enqueueWebhook(webhooks, delivery, opts.retentionSeconds),
    isDatasetInUse: (datasetId, projectId) =>
      call('scan', async () => {
        const jobs = await queue.getJobs([...UNFINISHED_STATES])
        return jobs.some((job) => job && job.data.datasetId === datasetId && projectOf(job.data) === projectId)
      }),
    isBaseInUse: (name, projectId) =>
      call('scan', async () => {
        const jobs = await queue.getJobs([...UNFINISHED_STATES])
        return jobs.some((job) => job && job.data.baseModel === name && projectOf(job.data) === projectId)
      }),
    countUnfinished: (projectId, owner) =>
      call('scan', async () => {
        const jobs = (await queue.getJobs([...UNFINISHED_STATES])).filter((job) => job !== undefined)
        const mine = jobs.filter((job) => projectOf(job.data) === projectId)
        return { project: mine.length, owner: owner === undefined ? 0 : mine.filter((job) => job.data.owner === owner).length }
      }),
    removeFinished: (projectId) =>
      call('remove', async () => {
        const jobs = await queue.getJobs(['completed', 'failed'])
        for (const job of jobs) if (job?.id && projectOf(job.data) === projectId) await queue.remove(job.id)
        await indexOf(projectId).drop()
      }),
    counts: () => call('counts', () => queue.getJobCounts()),
    ping: () => call('ping', async () => void (await connection.ping())),
    close: async () => {
      await events.close()
      await webhooks.close()
      await queue.close()
      connection.disconnect()
    },
  }
}
