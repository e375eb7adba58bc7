/**
 * Job control against real Redis, real HTTP and real worker processes: cancelling queued and running jobs, a live
 * event stream until its final event, a worker killed with SIGKILL mid-training whose job another worker finishes
 * from its checkpoint, and a worker stopped with SIGTERM that hands its job back.
 */
import { existsSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { signature } from '../../src/queue/webhooks.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, jobEnded, untilJob as untilJobAt, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'

/** Many epochs of batch size 1 on a dozen images: training lasts several seconds, long enough to interrupt. */
const LONG_JOB = { epochs: 40, batchSize: 1, seed: 3 }
/** The bound on how soon a running job stops after DELETE, ms. */
const CANCEL_BOUND_MS = 2_000
const SECRET = 'test-webhook-secret'

let service: TestService
let datasetId: string
const workers: WorkerProcess[] = []

beforeAll(async () => {
  // A short lock so a killed worker's job is recovered in seconds (see TRAIN_LOCK_MS).
  // The webhook receiver listens on loopback, which only an allow-listed host may reach.
  service = await startTestService({ TRAIN_LOCK_MS: '5000', WEBHOOK_SECRET: SECRET, WEBHOOK_URL_ALLOWLIST: '127.0.0.1' })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ 'red-circle': 6, 'blue-stripes': 6 }, { size: 48 })))]), 'small.zip')
  const response = await fetch(`${service.url}/datasets`, { method: 'POST', body: form })
  expect(response.status).toBe(201)
  datasetId = ((await response.json()) as { id: string }).id
})

// Each test's workers go with it, so none takes the next test's job.
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')))
})

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')))
  await service?.close()
})

function startWorker(name: string): WorkerProcess & { name: string } {
  const worker = startWorkerProcess(service.config, name)
  workers.push(worker)
  return Object.assign(worker, { name: `${hostname()}:${worker.child.pid}` })
}

async function postJob(body: Record<string, unknown>): Promise<any> {
  const response = await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, ...body }) })
  expect(response.status).toBe(202)
  return response.json()
}

async function getJob(id: string): Promise<any> {
  return (await fetch(`${service.url}/jobs/${id}`)).json()
}

const untilJob = (id: string, what: string, ok: (doc: any) => boolean, timeoutMs?: number) => untilJobAt(service.url, id, what, { ok, ...(timeoutMs && { timeoutMs }) })

interface SseEvent {
  id?: string
  event: string
  data: any
  at: number
}

/** Reads a Server-Sent Events response with a real HTTP client until the server ends it. */
async function* readEvents(response: Response): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
      if (fields.data !== undefined) yield { id: fields.id, event: fields.event ?? 'message', data: JSON.parse(fields.data), at: Date.now() }
    }
  }
}

async function modelIds(): Promise<string[]> {
  const dir = path.join(service.config.DATA_DIR, 'models')
  return existsSync(dir) ? readdir(dir) : []
}

test('a queued job is cancelled at once and stays readable as cancelled; priority and queue position', async () => {
  // No worker runs yet, so these stay queued.
  const first = await postJob({ epochs: 1 })
  const second = await postJob({ epochs: 1 })
  const urgent = await postJob({ epochs: 1, priority: 1 })
  expect(urgent).toMatchObject({ status: 'queued', priority: 1, queuePosition: 0 })
  expect(await getJob(first.id)).toMatchObject({ queuePosition: 1, priority: 50 })
  expect(await getJob(second.id)).toMatchObject({ queuePosition: 2 })

  const response = await fetch(`${service.url}/jobs/${first.id}`, { method: 'DELETE' })
  expect(response.status).toBe(200)
  expect(await response.json()).toMatchObject({ id: first.id, status: 'cancelled', error: { code: 'JOB_CANCELLED' }, queuePosition: null })
  expect(await getJob(first.id)).toMatchObject({ status: 'cancelled', attempts: 0 })
  expect(await getJob(second.id)).toMatchObject({ queuePosition: 1 })

  // Cancelling again answers the same; the listing filters by status and pages with a cursor, newest first.
  expect((await fetch(`${service.url}/jobs/${first.id}`, { method: 'DELETE' })).status).toBe(200)
  const cancelled = (await (await fetch(`${service.url}/jobs?status=cancelled`)).json()) as any
  expect(cancelled.jobs.map((j: any) => j.id)).toEqual([first.id])
  const page1 = (await (await fetch(`${service.url}/jobs?limit=2`)).json()) as any
  expect(page1.jobs.map((j: any) => j.id)).toEqual([urgent.id, second.id])
  const page2 = (await (await fetch(`${service.url}/jobs?limit=2&cursor=${encodeURIComponent(page1.nextCursor)}`)).json()) as any
  expect(page2).toEqual({ jobs: [expect.objectContaining({ id: first.id })], nextCursor: null })

  for (const id of [second.id, urgent.id]) expect((await fetch(`${service.url}/jobs/${id}`, { method: 'DELETE' })).status).toBe(200)
  const missing = await fetch(`${service.url}/jobs/00000000-0000-4000-8000-000000000000`, { method: 'DELETE' })
  expect(missing.status).toBe(404)
  expect(((await missing.json()) as any).error.code).toBe('JOB_NOT_FOUND')
})

/** A webhook receiver that answers 503 to the first call and 204 after, keeping what it got. */
async function startReceiver() {
  const calls: { headers: IncomingHttpHeaders; body: string }[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    req.on('end', () => {
      calls.push({ headers: req.headers, body })
      res.writeHead(calls.length === 1 ? 503 : 204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { calls, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, close: () => new Promise((resolve) => server.close(resolve)) }
}

test('a running job streams its progress, stops within 2 s of DELETE, ends cancelled with nothing left behind', async () => {
  const worker = startWorker('cancel-worker')
  const receiver = await startReceiver()
  const job = await postJob({ ...LONG_JOB, webhook: { url: receiver.url } })
  const stream = await fetch(`${service.url}/jobs/${job.id}/events`)
  expect(stream.status).toBe(200)
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/)

  const events: SseEvent[] = []
  let cancelAt = 0
  for await (const event of readEvents(stream)) {
    events.push(event)
    if (!cancelAt && event.data.phase === 'training' && event.data.progress.epoch >= 2) {
      cancelAt = Date.now()
      const response = await fetch(`${service.url}/jobs/${job.id}`, { method: 'DELETE' })
      expect(response.status).toBe(202)
      await response.body?.cancel()
    }
  }
  const last = events.at(-1)!
  expect(last.event).toBe('cancelled')
  expect(last.data).toMatchObject({ status: 'cancelled', error: { code: 'JOB_CANCELLED' }, worker: worker.name })
  expect(last.at - cancelAt).toBeLessThan(CANCEL_BOUND_MS)
  expect(events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true)
  // One event per change: no two in a row carry the same document, and percent never goes down.
  const percents = events.map((e) => e.data.progress.percent)
  expect(percents).toEqual([...percents].sort((a, b) => a - b))
  expect(new Set(events.map((e) => JSON.stringify(e.data))).size).toBe(events.length)
  expect(events.every((e) => /^\d+-\d+$/.test(e.id ?? ''))).toBe(true)

  expect(await modelIds()).toEqual([])
  await waitFor(async () => (existsSync(path.join(service.config.DATA_DIR, 'jobs', job.id)) ? undefined : true), 5_000, 'the job folder to go')
  const finished = await fetch(`${service.url}/jobs/${job.id}`, { method: 'DELETE' })
  expect(finished.status).toBe(200) // already cancelled

  // Reconnecting after the final event with its id: nothing more will come.
  const again = await fetch(`${service.url}/jobs/${job.id}/events`, { headers: { 'last-event-id': last.id! } })
  expect(again.status).toBe(204)

  // The webhook: retried after the 503, then delivered once with the final document, signed.
  await waitFor(async () => (receiver.calls.length >= 2 ? true : undefined), 20_000, 'the webhook to be retried')
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  await receiver.close()
  expect(receiver.calls).toHaveLength(2)
  const delivered = receiver.calls[1]!
  expect(JSON.parse(delivered.body)).toEqual(last.data)
  expect(delivered.headers['x-imagetune-signature']).toBe(signature(SECRET, delivered.body))
  expect(delivered.headers['x-imagetune-job-id']).toBe(job.id)
})

test('a worker killed with SIGKILL mid-training: another worker resumes from the checkpoint and registers one model', async () => {
  const first = startWorker('killed-worker')
  const job = await postJob(LONG_JOB)
  const running = await untilJob(job.id, 'training past epoch 3 on the first worker', (d) => d.worker === first.name && d.progress.epoch >= 3)
  expect(running.status).toBe('active')
  const second = startWorker('rescue-worker')
  expect(await first.stop('SIGKILL')).toBeNull()

  const done = await untilJob(job.id, 'the job to finish on the second worker', jobEnded, 90_000)
  expect(done.error).toBeUndefined()
  expect(done).toMatchObject({ status: 'completed', worker: second.name, attempts: 1 }) // the crash is no attempt
  expect(done.progress.resumedFromEpoch).toBeGreaterThanOrEqual(3)
  expect(done.history.map((h: any) => h.epoch)).toEqual(Array.from({ length: LONG_JOB.epochs }, (_, i) => i + 1))
  expect(await modelIds()).toEqual([done.result.modelId])
  const models = (await (await fetch(`${service.url}/models`)).json()) as any
  expect(models.models.filter((m: any) => m.jobId === job.id)).toHaveLength(1)

  const finished = await fetch(`${service.url}/jobs/${job.id}`, { method: 'DELETE' })
  expect(finished.status).toBe(409)
  expect(((await finished.json()) as any).error.code).toBe('JOB_FINISHED')
}, 150_000)

test('SIGTERM on a worker mid-job hands the job back to the queue; the next worker resumes it', async () => {
  const first = startWorker('stopped-worker')
  const job = await postJob(LONG_JOB)
  await untilJob(job.id, 'training past epoch 2', (d) => d.worker === first.name && d.progress.epoch >= 2)
  expect(await first.stop('SIGTERM')).toBe(0)

  const back = await getJob(job.id)
  expect(back).toMatchObject({ status: 'queued', attempts: 0, queuePosition: 0 })
  expect(back.error).toBeUndefined()

  // A client watches, drops its connection, and comes back with Last-Event-ID after the job has moved on.
  const controller = new AbortController()
  const firstLook = await fetch(`${service.url}/jobs/${job.id}/events`, { signal: controller.signal })
  const { value: seen } = await readEvents(firstLook).next()
  expect(seen).toMatchObject({ event: 'progress', data: { status: 'queued' } })
  controller.abort()

  const second = startWorker('next-worker')
  await untilJob(job.id, 'the second worker to take it', (d) => d.status === 'active')
  const resumed = await fetch(`${service.url}/jobs/${job.id}/events`, { headers: { 'last-event-id': seen!.id! } })
  expect(resumed.status).toBe(200)
  const events: SseEvent[] = []
  for await (const event of readEvents(resumed)) events.push(event)
  expect(events[0]!.data.status).not.toBe('queued') // what changed since that id comes first
  const done = events.at(-1)!
  expect(done.event).toBe('completed')
  expect(done.data).toMatchObject({ status: 'completed', worker: second.name, progress: { percent: 100 } })
  expect(done.data.progress.resumedFromEpoch).toBeGreaterThanOrEqual(2)
  expect(await getJob(job.id)).toEqual(done.data)
}, 150_000)
