/**
 * Job-end handling (src/services/job-end.ts) on the path only the API takes: a job cancelled while queued never
 * reaches a worker, so DELETE /jobs/:id must remove its scratch folder and queue its webhook itself.
 */
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Queue } from 'bullmq'
import { WEBHOOK_QUEUE } from '../../src/queue/webhooks.js'
import { json } from '../helpers/http.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { uploadDataset, validZip } from '../hostile/support.js'

let service: TestService

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
