import { Queue, UnrecoverableError, Worker } from 'bullmq'
import type { Config } from '../src/config.js'
import { AppError } from '../src/errors.js'
import { pinnedRequest } from '../src/net/pinned-request.js'
import { parseAllowList, systemResolver, type Resolver } from '../src/net/ssrf-guard.js'
import type { Logger } from '../src/logger.js'
import { redisConnection } from '../src/queue/connection.js'
import { createJobReader } from '../src/queue/job-reader.js'
import { TRAINING_QUEUE, type TrainModelJob, type TrainResult } from '../src/queue/jobs.js'
import { enqueueWebhook, signature, SIGNATURE_HEADER, WEBHOOK_QUEUE, type WebhookDelivery } from '../src/queue/webhooks.js'

/** A receiver gets this long to answer, ms; a slower one counts as a failed try. */
const DELIVERY_TIMEOUT_MS = 10_000

export interface WebhookWorker {
  /** Queues the delivery for a training job that has ended for good. */
  notify(delivery: WebhookDelivery): Promise<void>
  close(): Promise<void>
}

/**
 * Delivers webhooks: POSTs the training job's final document (as `GET /jobs/:id` shows it) as JSON, signed when
 * WEBHOOK_SECRET is set; any answer but 2xx, or none within 10 s, is retried with backoff.
 * @param resolve host name lookup; the system's by default (tests answer names of their own)
 */
export function startWebhookWorker(config: Config, log: Logger, resolve: Resolver = systemResolver): WebhookWorker {
  const addressCheck = { allowHosts: parseAllowList(config.WEBHOOK_URL_ALLOWLIST), resolve }
  const queueConnection = redisConnection(config.REDIS_URL, 'worker', log)
  // BullMQ leaves a connection it was given open on close(): both are ours to end.
  const workerConnection = redisConnection(config.REDIS_URL, 'worker', log)
  // Only to read the job being reported: a plain Queue, not the API's producer (its events stream, index, webhooks).
  const trainingJobs = new Queue<TrainModelJob, TrainResult>(TRAINING_QUEUE, { connection: queueConnection, prefix: config.QUEUE_PREFIX })
  trainingJobs.on('error', (err) => log.error({ err }, 'training queue error'))
  const readJob = createJobReader(trainingJobs, queueConnection)
  const queue = new Queue<WebhookDelivery>(WEBHOOK_QUEUE, { connection: queueConnection, prefix: config.QUEUE_PREFIX })
  queue.on('error', (err) => log.error({ err }, 'webhook queue error'))
  const worker = new Worker<WebhookDelivery>(
    WEBHOOK_QUEUE,
    async (job) => {
      const { trainJobId, url } = job.data
      const doc = await readJob(trainJobId)
      if (!doc) return // removed before delivery: nothing to tell
      const body = JSON.stringify(doc)
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-imagetune-job-id': trainJobId }
      if (config.WEBHOOK_SECRET) headers[SIGNATURE_HEADER] = signature(config.WEBHOOK_SECRET, body)
      // Checked again here (DNS may have changed since the job was posted) and connected to at the checked address,
      // with no second lookup. A forbidden address is not retried; redirects are not followed.
      const response = await pinnedRequest(new URL(url), addressCheck, { method: 'POST', headers, body, signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS) }).catch((err: unknown) => {
        throw err instanceof AppError && err.code === 'URL_FORBIDDEN' ? new UnrecoverableError(err.message) : err
      })
      response.resume()
      const status = response.statusCode ?? 0
      if (status < 200 || status >= 300) throw new Error(`webhook answered ${status}`)
    },
    { connection: workerConnection, prefix: config.QUEUE_PREFIX, concurrency: 4 },
  )
  worker.on('error', (err) => log.error({ err }, 'webhook worker error'))
  worker.on('failed', (job, err) => log.warn({ trainJobId: job?.data.trainJobId, url: job?.data.url, err, attempts: job?.attemptsMade }, 'webhook delivery failed'))
  worker.on('completed', (job) => log.info({ trainJobId: job.data.trainJobId, url: job.data.url }, 'webhook delivered'))

  return {
    notify: (delivery) => enqueueWebhook(queue, delivery, config.JOB_RETENTION_SECONDS),
    async close() {
      await worker.close()
      await queue.close()
      await trainingJobs.close()
      queueConnection.disconnect()
      workerConnection.disconnect()
    },
  }
}
