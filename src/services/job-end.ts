import type { LogSink } from '../logger.js'
import type { JobOutcome, Metrics } from '../metrics/registry.js'
import type { WebhookDelivery } from '../queue/webhooks.js'
import type { CheckpointStore } from '../storage/checkpoints.js'

/** A training job whose attempt ended, or that ended without one, as far as job-end handling needs it. */
export interface EndedJob {
  id: string
  webhook?: { url: string } | undefined
  /** 'retried': the attempt failed and the job runs again, so the job has not ended. */
  outcome: JobOutcome
  /** Set when an attempt ran (a job cancelled while queued made none): what it took and what it looked up. */
  attempt?: {
    /** Wall time of the attempt, when BullMQ recorded its start. */
    seconds?: number | undefined
    /** A completed attempt's feature-cache lookups (its sandboxed child's counters die with it). */
    featureCache?: { hits: number; misses: number } | undefined
  }
}

export interface JobEndDeps {
  checkpoints: Pick<CheckpointStore, 'remove'>
  /** Queues the delivery of the job's final document (the `webhooks` queue; delivered by worker processes). */
  notifyWebhook(delivery: WebhookDelivery): Promise<void>
  /**
   * Where attempts are counted: the registry of the process whose worker ran them (the API's with the embedded
   * worker of `npm start`). The API alone ends no attempt (it only cancels queued jobs), so it passes none.
   */
  metrics?: Pick<Metrics, 'jobs' | 'jobDuration' | 'featureCache'> | undefined
  log: LogSink
}

/**
 * The one place that says what happens when a training attempt or job ends. Every attempt is counted once, by its
 * outcome (completed, failed, cancelled, or retried when the job runs again). A job that ended for good (completed,
 * failed with no retry left, or cancelled: by the API while queued, by its worker while running) loses its scratch
 * folder (the checkpoint) and has its webhook, if any, queued; a retried one keeps its checkpoint. Nothing here
 * fails the caller: the outcome is already recorded in BullMQ, so a fault is logged.
 */
export function createJobEnd(deps: JobEndDeps): (job: EndedJob) => Promise<void> {
  const { checkpoints, notifyWebhook, metrics, log } = deps
  return async (job) => {
    const { id: jobId, outcome, attempt } = job
    if (attempt && metrics) {
      metrics.jobs.inc({ outcome })
      if (attempt.seconds !== undefined) metrics.jobDuration.observe({ outcome }, attempt.seconds)
      if (attempt.featureCache) {
        metrics.featureCache.inc({ result: 'hit' }, attempt.featureCache.hits)
        metrics.featureCache.inc({ result: 'miss' }, attempt.featureCache.misses)
      }
    }
    if (outcome === 'retried') return
    await Promise.all([
      checkpoints.remove(jobId).catch((err: Error) => log.warn({ err, jobId }, 'could not remove the job folder')),
      job.webhook &&
        notifyWebhook({ trainJobId: jobId, url: job.webhook.url }).catch((err: Error) => log.error({ err, jobId }, 'could not queue the webhook')),
    ])
  }
}
