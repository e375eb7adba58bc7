import { createHmac } from 'node:crypto'
import type { JobsOptions, Queue } from 'bullmq'

/** Deliveries of `webhook: {url}` callbacks, one BullMQ job per training job that ends. */
export const WEBHOOK_QUEUE = 'webhooks'
export const DELIVER_WEBHOOK_JOB = 'deliver-webhook'

export interface WebhookDelivery {
  trainJobId: string
  url: string
}

/** HMAC-SHA256 of the exact body bytes with WEBHOOK_SECRET, hex: `sha256=<hex>`. */
export const SIGNATURE_HEADER = 'x-imagetune-signature'

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** 8 tries over about 8 minutes (1 s, 2 s, 4 s, … between them), then the delivery fails and is logged. */
function deliveryOptions(trainJobId: string, retentionSeconds: number): JobsOptions {
  return {
    // One delivery per training job, however many processes notice that it ended.
    jobId: `webhook-${trainJobId}`,
    attempts: 8,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: retentionSeconds },
    removeOnFail: { age: retentionSeconds },
  }
}

export async function enqueueWebhook(queue: Queue<WebhookDelivery>, delivery: WebhookDelivery, retentionSeconds: number): Promise<void> {
  await queue.add(DELIVER_WEBHOOK_JOB, delivery, deliveryOptions(delivery.trainJobId, retentionSeconds))
}
