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

test('a retry with the same Idempotency-Key answers the original job unchanged, and it is listed once', async () => {
  // The seed is drawn per request and queuedAt is the time of adding: a retry that built a new document differs in both.
  const first = await postJob({ datasetId, epochs: 3 }, { 'idempotency-key': 'abc-123' })
  expect(first.status).toBe(202)
  const original = (await first.json()) as any
  await new Promise((resolve) => setTimeout(resolve, 20)) // a new queuedAt would differ by at least this
  const retry = await postJob({ epochs: 3, datasetId }, { 'idempotency-key': 'abc-123' }) // same body, other key order
  expect(retry.status).toBe(202)
  expect(retry.headers.get('location')).toBe(`/jobs/${original.id}`)
  const again = (await retry.json()) as any
  expect(again).toEqual(original)
  expect((await (await fetch(`${service.url}/jobs/${original.id}`)).json()) as any).toEqual(original)

  const listed = (await (await fetch(`${service.url}/jobs?limit=500`)).json()) as any
  expect(listed.jobs.filter((j: { id: string }) => j.id === original.id)).toHaveLength(1)
  // Another key is another job.
  const other = (await (await postJob({ datasetId, epochs: 3 }, { 'idempotency-key': 'abc-124' })).json()) as any
  expect(other.id).not.toBe(original.id)
})

test('the same Idempotency-Key with a different body is 422 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
  const original = (await (await postJob({ datasetId, epochs: 3 }, { 'idempotency-key': 'reused-key' })).json()) as any
  const reused = await postJob({ datasetId, epochs: 7 }, { 'idempotency-key': 'reused-key' })
  expect(reused.status).toBe(422)
  expect(((await reused.json()) as any).error.code).toBe('IDEMPOTENCY_KEY_REUSED')
  const stored = (await (await fetch(`${service.url}/jobs/${original.id}`)).json()) as any
  expect(stored).toEqual(original)
  expect(stored.options.epochs).toBe(3)
})

test('every options document a job shows is accepted back by POST /jobs and gives the same options', async () => {
  const queued = [
    (await (await postJob({ datasetId, epochs: 2 })).json()) as any, // augment and earlyStopping off: null
    // Fine-tuning needs a LayersModel base: the default (mobilenet_v3_coco) trains the head only.
    (await (await postJob({ datasetId, baseModel: 'mobilenet_v2', epochs: 2, augment: { flip: true }, earlyStopping: { patience: 2 }, classWeights: { 'red-circle': 2 }, fineTuneLayers: 1 })).json()) as any,
  ]
  expect(queued.map((job) => job.error)).toEqual([undefined, undefined]) // both queued: the loop below checks each
  expect(queued[0].options).toMatchObject({ augment: null, earlyStopping: null })
  for (const { id } of queued) {
    const doc = (await (await fetch(`${service.url}/jobs/${id}`)).json()) as any
    const response = await postJob({ datasetId: doc.datasetId, baseModel: doc.baseModel, priority: doc.priority, ...doc.options })
    const body = (await response.json()) as any
    expect([response.status, body.error]).toEqual([202, undefined])
    expect(body.options).toEqual(doc.options)
  }
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
  ['http://[2002:a9fe:a9fe::1]/hook', 403, 'URL_FORBIDDEN'], // 6to4 of the metadata address
  ['http://[::10.0.0.1]/hook', 403, 'URL_FORBIDDEN'], // IPv4-compatible
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
