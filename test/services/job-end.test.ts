/**
 * Job-end handling (src/services/job-end.ts): each attempt is counted once by its outcome, and only a job that ended
 * for good loses its checkpoint and queues its webhook. On the path only the API takes, a job cancelled while queued
 * never reaches a worker, so DELETE /jobs/:id must remove its scratch folder and queue its webhook itself.
 */
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Queue } from 'bullmq'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { createJobEnd } from '../../src/services/job-end.js'
import { WEBHOOK_QUEUE } from '../../src/queue/webhooks.js'
import { json } from '../helpers/http.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { uploadDataset, validZip } from '../hostile/support.js'

let service: TestService

/** One job-end service over fakes, with a real registry to read the counts from. */
function fakeJobEnd() {
  const removed: string[] = []
  const webhooks: string[] = []
  const metrics = createMetrics()
  const jobEnd = createJobEnd({
    checkpoints: { remove: async (id) => void removed.push(id) },
    notifyWebhook: async ({ trainJobId }) => void webhooks.push(trainJobId),
    metrics,
    log: createLogger('silent', 'test-job-end'),
  })
  /** One sample of a series (a histogram's by its sample name, e.g. `…_count`), 0 when absent. */
  const count = async (name: string, labels: Record<string, string>, sample = name) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => ((v as { metricName?: string }).metricName ?? name) === sample && Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0
  return { jobEnd, removed, webhooks, count }
}

test('a job retried twice, then failed: three attempts counted, cleaned up and notified once, at its end', async () => {
  const { jobEnd, removed, webhooks, count } = fakeJobEnd()
  const job = { id: 'j1', webhook: { url: 'http://127.0.0.1:9/hook' } }
  await jobEnd({ ...job, outcome: 'retried', attempt: { seconds: 2 } })
  await jobEnd({ ...job, outcome: 'retried', attempt: { seconds: 3 } })
  // Retried: the job runs again, so it keeps its checkpoint and nobody is told yet.
  expect(removed).toEqual([])
  expect(webhooks).toEqual([])
  await jobEnd({ ...job, outcome: 'failed', attempt: { seconds: 4 } })
  expect(removed).toEqual(['j1'])
  expect(webhooks).toEqual(['j1'])
  expect(await count('imagetune_jobs_total', { outcome: 'retried' })).toBe(2)
  expect(await count('imagetune_jobs_total', { outcome: 'failed' })).toBe(1)
  expect(await count('imagetune_job_duration_seconds', { outcome: 'retried' }, 'imagetune_job_duration_seconds_sum')).toBe(5)
  expect(await count('imagetune_job_duration_seconds', { outcome: 'failed' }, 'imagetune_job_duration_seconds_count')).toBe(1)
})

test('a completed attempt counts its feature-cache lookups; a job cancelled while queued made no attempt to count', async () => {
  const { jobEnd, removed, count } = fakeJobEnd()
  await jobEnd({ id: 'j2', outcome: 'completed', attempt: { seconds: 1, featureCache: { hits: 5, misses: 3 } } })
  await jobEnd({ id: 'j3', outcome: 'cancelled' })
  expect(removed).toEqual(['j2', 'j3'])
  expect(await count('imagetune_jobs_total', { outcome: 'completed' })).toBe(1)
  expect(await count('imagetune_jobs_total', { outcome: 'cancelled' })).toBe(0)
  expect(await count('imagetune_feature_cache_lookups_total', { result: 'hit' })).toBe(5)
  expect(await count('imagetune_feature_cache_lookups_total', { result: 'miss' })).toBe(3)
})

beforeAll(async () => {
  // The receiver is never called (no worker runs); loopback must still pass the URL check at POST /jobs.
  service = await startTestService({ WEBHOOK_URL_ALLOWLIST: '127.0.0.1' })
})
afterAll(async () => {
  await service?.close()
})

test('a job cancelled while queued: its checkpoint folder goes and one webhook delivery is queued', async () => {
  const dataset = await uploadDataset(service, await validZip())
  expect(dataset.status).toBe(201)
  const url = 'http://127.0.0.1:9/hook'
  const posted = await json(
    await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId: dataset.body.id, epochs: 1, webhook: { url } }) }),
  )
  expect(posted.status).toBe(202)
  const jobId: string = posted.body.id
  // As a stopping worker leaves it when it hands a job back: queued again, with its checkpoint.
  const folder = path.join(service.app.layout.jobs, jobId)
  await mkdir(path.join(folder, 'checkpoint'), { recursive: true })
  await writeFile(path.join(folder, 'checkpoint', 'head.bin'), 'state')

  const cancelled = await json(await fetch(`${service.url}/jobs/${jobId}`, { method: 'DELETE' }))
  expect(cancelled.status).toBe(200)
  expect(cancelled.body).toMatchObject({ id: jobId, status: 'cancelled' })
  expect(existsSync(folder)).toBe(false)

  const webhooks = new Queue(WEBHOOK_QUEUE, { connection: { url: service.config.REDIS_URL }, prefix: service.config.QUEUE_PREFIX })
  try {
    const delivery = await webhooks.getJob(`webhook-${jobId}`)
    expect(delivery?.data).toEqual({ trainJobId: jobId, url })
    // Cancelling again answers the same and queues nothing more.
    expect((await fetch(`${service.url}/jobs/${jobId}`, { method: 'DELETE' })).status).toBe(200)
    expect(await webhooks.count()).toBe(1)
  } finally {
    await webhooks.close()
  }
})
