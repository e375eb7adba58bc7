/**
 * A job that stalls past BullMQ's limit (its workers keep dying) fails for good like any other failure: its scratch
 * folder `jobs/<id>` is removed and its webhook is sent. The two earlier stalls are written into the job's stall
 * counter; the last one is a real SIGKILL of the worker mid-training.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { Redis } from 'ioredis'
import { TRAINING_QUEUE } from '../../src/queue/jobs.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'

let service: TestService
let receiver: Server
const received: string[] = []
const workers: WorkerProcess[] = []

beforeAll(async () => {
  service = await startTestService({ TRAIN_LOCK_MS: '5000', WEBHOOK_URL_ALLOWLIST: '127.0.0.1' })
  receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      received.push(body)
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
})
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')))
  receiver?.close()
  await service?.close()
})

test('a job failed by the stall limit has its folder removed and its webhook sent', async () => {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ red: 6, blue: 6 }, { size: 48 })))]), 'small.zip')
  const { id: datasetId } = (await (await fetch(`${service.url}/datasets`, { method: 'POST', body: form })).json()) as { id: string }
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  const posted = await fetch(`${service.url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ datasetId, epochs: 40, batchSize: 1, seed: 2, webhook: { url: hook } }),
  })
  const { id: jobId } = (await posted.json()) as { id: string }
  const getJob = async () => (await (await fetch(`${service.url}/jobs/${jobId}`)).json()) as any

  const first = startWorkerProcess(service.config, 'dying-worker')
  workers.push(first)
  await waitFor(async () => ((await getJob()).progress.epoch >= 2 ? true : undefined), 90_000, 'training with a checkpoint')
  const folder = path.join(service.config.DATA_DIR, 'jobs', jobId)
  expect(existsSync(folder)).toBe(true)

  // Two stalls already counted (maxStalledCount is 2): the next one fails the job.
  const redis = new Redis(service.config.REDIS_URL)
  await redis.hset(`${service.config.QUEUE_PREFIX}:${TRAINING_QUEUE}:${jobId}`, 'stc', 2)
  redis.disconnect()
  expect(await first.stop('SIGKILL')).toBeNull()
  workers.push(startWorkerProcess(service.config, 'next-worker'))

  const failed = await waitFor(async () => {
    const doc = await getJob()
    return doc.status === 'failed' ? doc : undefined
  }, 60_000, 'the job to fail as stalled')
  expect(failed.error.message).toMatch(/stalled/)
  await waitFor(async () => (existsSync(folder) ? undefined : true), 10_000, 'the job folder to be removed')
  await waitFor(async () => (received.length > 0 ? true : undefined), 15_000, 'the webhook')
  expect(JSON.parse(received[0]!)).toMatchObject({ id: jobId, status: 'failed' })
}, 180_000)
