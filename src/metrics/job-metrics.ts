import type { Job, Worker } from 'bullmq'
import { parseFailureReason, TRAIN_ATTEMPTS, type TrainModelJob, type TrainResult } from '../queue/jobs.js'
import type { JobOutcome, Metrics } from './registry.js'

/** Seconds the attempt ran, when BullMQ recorded both ends. */
function attemptSeconds(job: Job): number | undefined {
  return job.processedOn && job.finishedOn ? (job.finishedOn - job.processedOn) / 1000 : undefined
}

/** A failure is final when BullMQ recorded a finish; a retried attempt goes back to the queue without one. */
function failureOutcome(job: Job, err: Error): JobOutcome {
  if (parseFailureReason(err.message).code === 'JOB_CANCELLED') return 'cancelled'
  const attempts = job.opts.attempts ?? TRAIN_ATTEMPTS
  return job.finishedOn || job.attemptsMade >= attempts ? 'failed' : 'retried'
}

/**
 * Counts jobs where they run: in the worker process, once per attempt, whichever API replica is scraped. The
 * sandboxed child reports its feature-cache hits and misses in the job result, since its own counters die with it.
 */
export function observeJobs(worker: Worker<TrainModelJob, TrainResult>, metrics: Metrics): void {
  worker.on('completed', (job) => {
    metrics.jobs.inc({ outcome: 'completed' })
    const seconds = attemptSeconds(job)
    if (seconds !== undefined) metrics.jobDuration.observe({ outcome: 'completed' }, seconds)
    const cache = job.returnvalue?.featureCache
    if (cache) {
      metrics.featureCache.inc({ result: 'hit' }, cache.hits)
      metrics.featureCache.inc({ result: 'miss' }, cache.misses)
    }
  })
  worker.on('failed', (job, err) => {
    if (!job) return
    const outcome = failureOutcome(job, err)
    metrics.jobs.inc({ outcome })
    const seconds = attemptSeconds(job) ?? (job.processedOn ? (Date.now() - job.processedOn) / 1000 : undefined)
    if (seconds !== undefined) metrics.jobDuration.observe({ outcome }, seconds)
  })
}
