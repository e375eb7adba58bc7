/** The API ↔ Redis ↔ worker contract, through real HTTP, real BullMQ and a real worker process. */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, waitFor, type TestService } from '../helpers/service.js'

let service: TestService
let datasetId: string

beforeAll(async () => {
  service = await startTestService()
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ 'red-circle': 3, 'blue-stripes': 3 }, { size: 48 })))]), 'tiny.zip')
  const response = await fetch(`${service.url}/datasets`, { method: 'POST', body: form })
  expect(response.status).toBe(201)
  datasetId = ((await response.json()) as { id: string }).id
})

afterAll(async () => {
  await service?.close()
})

function postJob(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
}

test('a queued job is readable, listed, and keeps its defaults', async () => {
  const response = await postJob({ datasetId, epochs: 3 })
  expect(response.status).toBe(202)
  const job = (await response.json()) as any
  expect(response.headers.get('location')).toBe(`/jobs/${job.id}`)
  expect(job).toMatchObject({ status: 'queued', datasetId, baseModel: 'mobilenet_v3_coco', options: { epochs: 3, batchSize: 32, validationSplit: 0.2 } })
  expect(Number.isInteger(job.options.seed)).toBe(true)

  const read = (await (await fetch(`${service.url}/jobs/${job.id}`)).json()) as any
  expect(read).toMatchObject({ id: job.id, status: 'queued', progress: { percent: 0 } })
  const list = (await (await fetch(`${service.url}/jobs`)).json()) as any
  expect(list.jobs.map((j: { id: string }) => j.id)).toContain(job.id)

  // A dataset that a queued job needs cannot be deleted.
  const del = await fetch(`${service.url}/datasets/${datasetId}`, { method: 'DELETE' })
  expect(del.status).toBe(409)
  expect(((await del.json()) as any).error.code).toBe('DATASET_IN_USE')
})

test('the same Idempotency-Key returns the same job', async () => {
  const first = (await (await postJob({ datasetId, epochs: 2 }, { 'idempotency-key': 'abc-123' })).json()) as any
  const second = (await (await postJob({ datasetId, epochs: 2 }, { 'idempotency-key': 'abc-123' })).json()) as any
  expect(second.id).toBe(first.id)
})

test.each([
  [{ datasetId: 'x', epochs: 2, colour: 'red' }, 400, 'VALIDATION'],
  [{ datasetId: 'x', epochs: 0 }, 400, 'VALIDATION'],
  [{ datasetId: 'x', learningRate: -1 }, 400, 'VALIDATION'],
  [{ datasetId: '../../etc/passwd' }, 400, 'VALIDATION'],
  [{ epochs: 2 }, 400, 'VALIDATION'],
  [{ datasetId: '00000000-0000-4000-8000-000000000000' }, 404, 'DATASET_NOT_FOUND'],
])('POST /jobs %j → %i %s', async (body, status, code) => {
  const response = await postJob(body)
  expect(response.status).toBe(status)
  expect(((await response.json()) as any).error.code).toBe(code)
})

test('malformed JSON is a 400 with a code', async () => {
  const response = await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"datasetId":' })
  expect(response.status).toBe(400)
  expect(((await response.json()) as any).error.code).toBe('VALIDATION')
})

test('unknown job → 404 JOB_NOT_FOUND', async () => {
  const response = await fetch(`${service.url}/jobs/00000000-0000-4000-8000-000000000000`)
  expect(response.status).toBe(404)
  expect(((await response.json()) as any).error.code).toBe('JOB_NOT_FOUND')
})

test.each([
  ['http://127.0.0.1:9/hook', 403, 'URL_FORBIDDEN'],
  ['http://169.254.169.254/latest/meta-data', 403, 'URL_FORBIDDEN'],
  ['http://[::1]/hook', 403, 'URL_FORBIDDEN'],
  ['http://localhost/hook', 403, 'URL_FORBIDDEN'],
  ['ftp://example.com/hook', 400, 'VALIDATION'],
  ['https:// spaced.example/hook', 400, 'VALIDATION'],
])('a webhook to %s is refused (%i %s): the service must not POST into its own network', async (url, status, code) => {
  const response = await postJob({ datasetId, epochs: 1, webhook: { url } })
  expect(response.status).toBe(status)
  expect(((await response.json()) as any).error.code).toBe(code)
})

test('a job whose dataset vanished fails once, with DATASET_NOT_FOUND, in a real worker', async () => {
  const job = (await (await postJob({ datasetId, epochs: 1 }, { 'idempotency-key': 'vanishing' })).json()) as any
  await rm(path.join(service.config.DATA_DIR, 'datasets', datasetId), { recursive: true })
  const worker = startWorkerProcess(service.config)
  try {
    const failed = await waitFor(
      async () => {
        const doc = (await (await fetch(`${service.url}/jobs/${job.id}`)).json()) as any
        return doc.status === 'failed' ? doc : undefined
      },
      90_000,
      'the job to fail',
    )
    expect(failed.error.code).toBe('DATASET_NOT_FOUND')
    expect(failed.attempts).toBe(1) // bad input is not retried
  } finally {
    await worker.stop()
  }
})
