/**
 * Limits that protect the service from one greedy client: concurrent uploads, queued jobs per key, and request
 * rates per project counted in Redis so two API replicas share one budget. Each answers 429 with the limit named.
 */
import { request as httpRequest } from 'node:http'
import { randomUUID } from 'node:crypto'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { createModelStore } from '../../src/storage/models.js'
import { projectStore } from '../../src/storage/project-store.js'
import { saveTinyModel } from '../helpers/tiny-model.js'
import { makeImage } from '../helpers/images.js'
import { startTestService, waitFor, type TestService } from '../helpers/service.js'
import { json, type JsonResponse } from '../helpers/http.js'
import { expectAlive, expectError, predictRaw, storeTinyModel, TINY_MODEL, uploadDataset, validZip } from './support.js'

const KEYS = { trainA: `a-${randomUUID()}`, trainB: `b-${randomUUID()}`, p1: `p1-${randomUUID()}`, p2: `p2-${randomUUID()}`, alive: `alive-${randomUUID()}`, admin: `admin-${randomUUID()}` }
const API_KEYS = [
  `${hashApiKey(KEYS.admin)}:admin`,
  `${hashApiKey(KEYS.trainA)}:train`,
  `${hashApiKey(KEYS.trainB)}:train`,
  `${hashApiKey(KEYS.p1)}:predict`,
  `${hashApiKey(KEYS.p2)}:predict`,
  `${hashApiKey(KEYS.alive)}:predict`,
].join(',')
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

describe('quotas', () => {
  let service: TestService
  let zip: Buffer

  beforeAll(async () => {
    service = await startTestService({ API_KEYS, MAX_CONCURRENT_UPLOADS: '1', MAX_QUEUED_JOBS_PER_KEY: '2' })
    await storeTinyModel(service)
    zip = await validZip()
  })
  afterAll(async () => {
    await service?.close()
  })
  afterEach(async () => {
    await expectAlive(service, bearer(KEYS.alive))
  })

  test('an upload beyond MAX_CONCURRENT_UPLOADS is 429 with the limit named; the held one still completes', async () => {
    const boundary = `b${randomUUID()}`
    const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="held.zip"\r\ncontent-type: application/zip\r\n\r\n`)
    const held = httpRequest(`${service.url}/datasets`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...bearer(KEYS.trainA) },
    })
    const answered = new Promise<JsonResponse>((resolve, reject) => {
      held.on('error', reject)
      held.on('response', (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: new Headers(), body: JSON.parse(text) }))
      })
    })
    held.write(Buffer.concat([head, zip.subarray(0, 100)]))

    // Once the held upload is inside the handler, the next one is turned away (until then it may go through).
    const refused = await waitFor(
      async () => {
        const other = await uploadDataset(service, zip, 'other.zip', bearer(KEYS.trainB))
        return other.status === 429 ? other : undefined
      },
      20_000,
      'a concurrent upload to be refused',
    )
    const error = expectError(refused, 429, 'TOO_MANY_UPLOADS')
    expect(error.details).toEqual({ limit: 'MAX_CONCURRENT_UPLOADS', max: 1 })

    held.end(Buffer.concat([zip.subarray(100), Buffer.from(`\r\n--${boundary}--\r\n`)]))
    expect((await answered).status).toBe(201)
    expect((await uploadDataset(service, zip, 'after.zip', bearer(KEYS.trainB))).status).toBe(201)
  })

  test('a key with MAX_QUEUED_JOBS_PER_KEY unfinished jobs gets 429; other keys and idempotent retries do not', async () => {
    const dataset = await uploadDataset(service, zip, 'set.zip', bearer(KEYS.trainA))
    expect(dataset.status).toBe(201)
    const post = async (key: string, idempotencyKey?: string) =>
      json(
        await fetch(`${service.url}/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...bearer(key), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
          body: JSON.stringify({ datasetId: dataset.body.id, epochs: 1 }),
        }),
      )
    const first = await post(KEYS.trainA, 'first')
    expect(first.status).toBe(202)
    expect((await post(KEYS.trainA)).status).toBe(202)
    const error = expectError(await post(KEYS.trainA), 429, 'TOO_MANY_QUEUED_JOBS')
    expect(error.details).toEqual({ limit: 'MAX_QUEUED_JOBS_PER_KEY', max: 2 })
    // A retry of a job already queued answers with that job.
    const retry = await post(KEYS.trainA, 'first')
    expect(retry.status).toBe(202)
    expect(retry.body.id).toBe(first.body.id)
    expect((await post(KEYS.trainB)).status).toBe(202)
  })
})

describe('rate limits shared by two API replicas', () => {
  let replicaA: TestService
  let replicaB: TestService
  /** A key of another project, with train and predict: its budgets are its own. */
  let otherKey: string

  beforeAll(async () => {
    const limits = { API_KEYS, RATE_LIMIT_PREDICT_PER_MIN: '3', RATE_LIMIT_UPLOADS_PER_MIN: '2' }
    replicaA = await startTestService(limits)
    // Same Redis prefix: the deployment's second replica.
    replicaB = await startTestService({ ...limits, QUEUE_PREFIX: replicaA.config.QUEUE_PREFIX })
    await storeTinyModel(replicaA)
    await storeTinyModel(replicaB)
    const admin = { 'content-type': 'application/json', ...bearer(KEYS.admin) }
    const project = await json(await fetch(`${replicaA.url}/projects`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'other' }) }))
    const key = await json(await fetch(`${replicaA.url}/projects/${project.body.id}/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ scopes: ['train', 'predict'] }) }))
    expect(key.status).toBe(201)
    otherKey = key.body.key
    for (const replica of [replicaA, replicaB]) await saveTinyModel(createModelStore(projectStore(replica.app.stores.shared, project.body.id)), TINY_MODEL, ['a', 'b'])
  })
  afterAll(async () => {
    await replicaB?.close()
    await replicaA?.close()
  })

  test('predictions: the 4th in a minute is 429 RATE_LIMITED with Retry-After, on either replica, for that project only', async () => {
    const image = await makeImage('red-circle', { size: 32 })
    for (const replica of [replicaA, replicaB, replicaA]) expect((await predictRaw(replica, TINY_MODEL, image, 'image/png', bearer(KEYS.p1))).status).toBe(200)
    const limited = await predictRaw(replicaB, TINY_MODEL, image, 'image/png', bearer(KEYS.p1))
    const error = expectError(limited, 429, 'RATE_LIMITED')
    expect(error.details).toMatchObject({ limit: 'RATE_LIMIT_PREDICT_PER_MIN', max: 3 })
    const retryAfter = Number(limited.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // GET /predict shares the budget, and is refused before any URL is fetched.
    const viaUrl = await json(await fetch(`${replicaA.url}/predict?model=${TINY_MODEL}&url=http%3A%2F%2F127.0.0.1%3A9%2Fa.png`, { headers: bearer(KEYS.p1) }))
    expectError(viaUrl, 429, 'RATE_LIMITED')
    // Another key of the same project shares its budget; another project's key has its own.
    expectError(await predictRaw(replicaA, TINY_MODEL, image, 'image/png', bearer(KEYS.p2)), 429, 'RATE_LIMITED')
    await expectAlive(replicaA, bearer(otherKey))
    await expectAlive(replicaB, bearer(otherKey))
  })

  test('uploads: the 3rd in a minute is 429 RATE_LIMITED naming RATE_LIMIT_UPLOADS_PER_MIN', async () => {
    const zip = await validZip()
    expect((await uploadDataset(replicaA, zip, 'a.zip', bearer(KEYS.trainA))).status).toBe(201)
    expect((await uploadDataset(replicaB, zip, 'b.zip', bearer(KEYS.trainA))).status).toBe(201)
    const error = expectError(await uploadDataset(replicaA, zip, 'c.zip', bearer(KEYS.trainA)), 429, 'RATE_LIMITED')
    expect(error.details).toMatchObject({ limit: 'RATE_LIMIT_UPLOADS_PER_MIN', max: 2 })
    expectError(await uploadDataset(replicaA, zip, 'd.zip', bearer(KEYS.trainB)), 429, 'RATE_LIMITED')
    expect((await uploadDataset(replicaA, zip, 'e.zip', bearer(otherKey))).status).toBe(201)
  })
})
