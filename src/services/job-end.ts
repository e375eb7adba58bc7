import type { LogSink } from '../logger.js'
import type { WebhookDelivery } from '../queue/webhooks.js'
import type { CheckpointStore } from '../storage/checkpoints.js'

/** A training job that has ended for good, as far as job-end handling needs it. */
export interface EndedJob {
  id: string
  webhook?: { url: string } | undefined
}

export interface JobEndDeps {
  checkpoints: Pick<CheckpointStore, 'remove'>
  /** Queues the delivery of the job's final document (the `webhooks` queue; delivered by worker processes). */
  notifyWebhook(delivery: WebhookDelivery): Promise<void>
  log: LogSink
}

/**
 * The one place that says what happens when a training job ends for good: completed, failed with no retry left,
 * or cancelled (by the API while queued, by its worker while running). Its scratch folder (the checkpoint) goes and
 * its webhook, if it has one, is queued. A job that will be retried has not ended: it keeps its checkpoint.
 * Neither step fails the caller: the job's outcome is already recorded in BullMQ, so a fault here is logged.
 * (Job metrics are counted by `metrics/job-metrics.ts` on the worker's events, once per attempt.)
 */
export function createJobEnd(deps: JobEndDeps): (job: EndedJob) => Promise<void> {
  const { checkpoints, notifyWebhook, log } = deps
  return async (job) => {
    const jobId = job.id
    await Promise.all([
      checkpoints.remove(jobId).catch((err: Error) => log.warn({ err, jobId }, 'could not remove the job folder')),
      job.webhook &&
        notifyWebhook({ trainJobId: jobId, url: job.webhook.url }).catch((err: Error) => log.error({ err, jobId }, 'could not queue the webhook')),
    ])
  }
}
