/**
 * Per-project quotas, each with its config default and an override through the admin API, over real HTTP and
 * Redis: queued jobs (429, also for a burst spread over two replicas), stored bytes (507), prediction and upload
 * rates (429). Every answer names its limit.
 */
import { randomUUID } from 'node:crypto'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { repositoriesFor } from '../../src/storage/repositories.js'
import { makeImage } from '../helpers/images.js'
import { callJson, type JsonResponse } from '../helpers/http.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { saveTinyModel, TINY_SIZE } from '../helpers/tiny-model.js'
import { expectError, predictRaw, uploadDataset, validZip } from '../hostile/support.js'

const ADMIN = `admin-${randomUUID()}`
let service: TestService

const call = (method: string, url: string, key: string, body?: unknown): Promise<JsonResponse> => callJson(service.url, method, url, key, body)

/** A new project and a train+predict key for it. */
async function project(name: string): Promise<{ id: string; key: string }> {
  const id = (await call('POST', '/projects', ADMIN, { name })).body.id as string
  const key = (await call('POST', `/projects/${id}/keys`, ADMIN, { scopes: ['train', 'predict'] })).body.key as string
  return { id, key }
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

beforeAll(async () => {
  service = await startTestService({
    API_KEYS: `${hashApiKey(ADMIN)}:admin`,
    PROJECT_MAX_QUEUED_JOBS: '2',
    PROJECT_MAX_STORED_BYTES: String(1024 * 1024 * 1024),
    RATE_LIMIT_PREDICT_PER_MIN: '100',
    RATE_LIMIT_UPLOADS_PER_MIN: '100',
  })
})
afterAll(async () => {
  await service?.close()
})

test('queued jobs: the default quota answers 429 naming PROJECT_MAX_QUEUED_JOBS, an override its own; other projects are not counted', async () => {
  const a = await project('jobs-a')
  const b = await project('jobs-b')
  const dataset = (await uploadDataset(service, await validZip(), 'a.zip', bearer(a.key))).body.id
  const post = (key: string, datasetId: string) => call('POST', '/jobs', key, { datasetId, epochs: 1 })
  expect((await post(a.key, dataset)).status).toBe(202)
  expect((await post(a.key, dataset)).status).toBe(202)
  const error = expectError(await post(a.key, dataset), 429, 'TOO_MANY_QUEUED_JOBS')
  expect(error.details).toEqual({ limit: 'PROJECT_MAX_QUEUED_JOBS', max: 2 })
  expect(error.message).toContain(a.id)

  // B's two jobs are its own: A's do not count.
  const bDataset = (await uploadDataset(service, await validZip(), 'b.zip', bearer(b.key))).body.id
  expect((await post(b.key, bDataset)).status).toBe(202)
  expect((await call('PUT', `/projects/${a.id}/quota`, ADMIN, { queuedJobs: 3 })).body.quota.queuedJobs).toBe(3)
  expect((await post(a.key, dataset)).status).toBe(202)
  expect(expectError(await post(a.key, dataset), 429, 'TOO_MANY_QUEUED_JOBS').details).toEqual({ limit: 'quota.queuedJobs', max: 3 })
})

test('queued jobs: a burst of requests over two replicas queues no more than the quota', async () => {
  const { API_KEYS, QUEUE_PREFIX, DATA_DIR, PROJECT_MAX_QUEUED_JOBS } = service.config
  const replica = await startTestService({ API_KEYS, QUEUE_PREFIX, DATA_DIR, PROJECT_MAX_QUEUED_JOBS: String(PROJECT_MAX_QUEUED_JOBS) })
  try {
    const p = await project('burst')
    const datasetId = (await uploadDataset(service, await validZip(), 'p.zip', bearer(p.key))).body.id
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const response = await fetch(`${(i % 2 ? replica : service).url}/jobs`, {
          method: 'POST',
          headers: { ...bearer(p.key), 'content-type': 'application/json' },
          body: JSON.stringify({ datasetId, epochs: 1 }),
        })
        return response.status
      }),
    )
    expect(answers.sort()).toEqual([202, 202, ...Array(10).fill(429)])
  } finally {
    await replica.app.close()
  }
})

test('stored bytes: over the quota an upload and a job answer 507 naming the limit, the bytes held and the maximum', async () => {
  const p = await project('bytes')
  const zip = await validZip()
  const first = await uploadDataset(service, zip, 'one.zip', bearer(p.key))
  expect(first.status).toBe(201)
  const held = await service.app.stores.shared.size(`projects/${p.id}/datasets`)
  expect(held).toBeGreaterThan(0)

  // The next upload would not fit.
  await call('PUT', `/projects/${p.id}/quota`, ADMIN, { storedBytes: held + 100 })
  const refused = expectError(await uploadDataset(service, zip, 'two.zip', bearer(p.key)), 507, 'STORAGE_QUOTA_EXCEEDED')
  expect(refused.details).toEqual({ limit: 'quota.storedBytes', max: held + 100, used: held })

  // At the quota, a job (which stores a model) is refused too.
  await call('PUT', `/projects/${p.id}/quota`, ADMIN, { storedBytes: held })
  expect(expectError(await call('POST', '/jobs', p.key, { datasetId: first.body.id, epochs: 1 }), 507, 'STORAGE_QUOTA_EXCEEDED').details).toMatchObject({ limit: 'quota.storedBytes', max: held })

  // Back to the default (1 GiB): accepted again.
  expect((await call('PUT', `/projects/${p.id}/quota`, ADMIN, {})).body.quota.storedBytes).toBe(1024 * 1024 * 1024)
  expect((await uploadDataset(service, zip, 'three.zip', bearer(p.key))).status).toBe(201)
})

test('prediction and upload rates: an override answers 429 naming quota.<field>, for that project only', async () => {
  const limited = await project('rates')
  const other = await project('rates-other')
  await call('PUT', `/projects/${limited.id}/quota`, ADMIN, { predictPerMin: 2, uploadsPerMin: 1 })
  const model = randomUUID()
  for (const p of [limited, other]) await saveTinyModel(repositoriesFor(service.app.stores, p.id, { layout: service.app.layout }).models, model, ['a', 'b'])
  const image = await makeImage('red-circle', { size: TINY_SIZE })

  for (let i = 0; i < 2; i++) expect((await predictRaw(service, model, image, 'image/png', bearer(limited.key))).status).toBe(200)
  const error = expectError(await predictRaw(service, model, image, 'image/png', bearer(limited.key)), 429, 'RATE_LIMITED')
  expect(error.details).toMatchObject({ limit: 'quota.predictPerMin', quota: 'predictPerMin', max: 2 })
  expect((await predictRaw(service, model, image, 'image/png', bearer(other.key))).status).toBe(200)

  const zip = await validZip()
  expect((await uploadDataset(service, zip, 'a.zip', bearer(limited.key))).status).toBe(201)
  expect(expectError(await uploadDataset(service, zip, 'b.zip', bearer(limited.key)), 429, 'RATE_LIMITED').details).toMatchObject({ limit: 'quota.uploadsPerMin', max: 1 })
  expect((await uploadDataset(service, zip, 'c.zip', bearer(other.key))).status).toBe(201)
})
