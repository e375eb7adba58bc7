import type { Job, Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { DEFAULT_PROJECT_ID } from '../contract/projects.js'
import { toJobDocument, type JobDocument } from './job-document.js'
import type { TrainModelJob, TrainResult } from './jobs.js'

type TrainingJobs = Queue<TrainModelJob, TrainResult>
type TrainJob = Job<TrainModelJob, TrainResult>

/**
 * Jobs ahead of a queued one. Workers take the wait list (oldest at its right end) before the prioritized set
 * (lowest score first), and every job we add has a priority, so the wait list only holds jobs handed back.
 */
const POSITION_SCRIPT = `
local n = redis.call("LLEN", KEYS[1])
local i = redis.call("LPOS", KEYS[1], ARGV[1])
if i then return n - 1 - i end
local r = redis.call("ZRANK", KEYS[2], ARGV[1])
if r then return n + r end
return -1
`

/**
 * A training job as `GET /jobs/:id` shows it. `state` must be read before `job`: a job that finishes in between
 * then shows its old state with its new fields, never `completed` without its result (the next event shows the rest).
 */
export async function snapshotJob(queue: TrainingJobs, redis: Redis, job: TrainJob, state: Awaited<ReturnType<TrainJob['getState']>>): Promise<JobDocument> {
  const id = job.id ?? ''
  let queuePosition: number | null = null
  if (state === 'waiting' || state === 'prioritized') {
    const rank = Number(await redis.eval(POSITION_SCRIPT, 2, queue.toKey('wait'), queue.toKey('prioritized'), id))
    queuePosition = rank >= 0 ? rank : null
  }
  return toJobDocument({
    id,
    state,
    data: job.data,
    progress: job.progress,
    returnvalue: job.returnvalue,
    failedReason: job.failedReason,
    attemptsMade: job.attemptsMade,
    priority: job.priority,
    queuePosition,
    processedBy: job.processedBy,
    timestamp: job.timestamp,
    processedOn: job.processedOn,
    finishedOn: job.finishedOn,
  })
}

/**
 * Reads one training job's document from a plain BullMQ Queue: what the API's producer answers and what a webhook
 * delivers, without the producer's events, index and webhook queue.
 */
/** The project a job belongs to; jobs queued before projects existed belong to `default`. */
export function projectOf(data: TrainModelJob): string {
  return data.projectId ?? DEFAULT_PROJECT_ID
}

/**
 * A job's document and project, or undefined when there is no such job.
 * @param redis the queue's own connection (one script call for the queue position)
 */
export function createProjectJobReader(queue: TrainingJobs, redis: Redis): (jobId: string) => Promise<{ doc: JobDocument; projectId: string } | undefined> {
  return async (jobId) => {
    const state = await queue.getJobState(jobId)
    const job = await queue.getJob(jobId)
    return job ? { doc: await snapshotJob(queue, redis, job, state), projectId: projectOf(job.data) } : undefined
  }
}

/**
 * @param redis the queue's own connection (one script call for the queue position)
 * @returns a reader; given a `projectId`, a job of another project reads as missing
 */
export function createJobReader(queue: TrainingJobs, redis: Redis): (jobId: string, projectId?: string) => Promise<JobDocument | undefined> {
  const read = createProjectJobReader(queue, redis)
  return async (jobId, projectId) => {
    const found = await read(jobId)
    return found && (projectId === undefined || found.projectId === projectId) ? found.doc : undefined
  }
}
