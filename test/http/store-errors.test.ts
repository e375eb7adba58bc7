/**
 * The S3 store failing as an operator meets it: an unreachable endpoint and refused credentials answer 503
 * STORAGE_UNAVAILABLE naming the cause's code (never 500, never the endpoint or bucket: the log has those), /readyz
 * reports the store, and a missing bucket stops the start.
 */
import { buildApp } from '../../src/http/app.js'
import { createLogger } from '../../src/logger.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestS3, type TestS3 } from '../helpers/s3.js'
import { startTestService, testConfig, waitFor, type TestService } from '../helpers/service.js'

let s3: TestS3
const services: TestService[] = []

beforeAll(async () => {
  s3 = await startTestS3()
})
afterAll(async () => {
  for (const service of services) await service.close()
  await s3.close()
})

async function start(overrides: Record<string, string>) {
  const service = await startTestService({ PREDICT_THREADS: '0', ...overrides })
  services.push(service)
  return service
}

const upload = async (service: TestService) => {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ a: 2, b: 2 }, { size: 16 })))]), 'set.zip')
  const response = await fetch(`${service.url}/datasets`, { method: 'POST', body: form })
  return { status: response.status, body: (await response.json()) as any }
}

test('an unreachable store: 503 STORAGE_UNAVAILABLE naming the cause, not the endpoint; /readyz names the cause only', async () => {
  // A port nothing listens on: the bucket check at start-up cannot run, so the API starts and reports it.
  const service = await start({ STORAGE_URL: 's3://imagetune-test/x?endpoint=http%3A%2F%2F127.0.0.1%3A9&forcePathStyle=true&region=us-east-1' })
  for (const response of [await fetch(`${service.url}/datasets`), await fetch(`${service.url}/models`), await fetch(`${service.url}/predict?model=prod`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(8) })]) {
    expect(response.status).toBe(503)
    const { error } = (await response.json()) as any
    expect(error.code).toBe('STORAGE_UNAVAILABLE')
    expect(error).toEqual({ code: 'STORAGE_UNAVAILABLE', message: 'the object store is unreachable (ECONNREFUSED)', details: { cause: 'ECONNREFUSED' } })
  }
  const uploaded = await upload(service)
  expect(uploaded.status).toBe(503)
  expect(uploaded.body.error.code).toBe('STORAGE_UNAVAILABLE')
  const ready = await fetch(`${service.url}/readyz`)
  expect(ready.status).toBe(503)
  const readyBody = await ready.json()
  // An open route: the kind of store and the code of the cause, never the bucket or the endpoint.
  expect(readyBody).toEqual({ status: 'unavailable', checks: { redis: 'ok', storage: 'unavailable (ECONNREFUSED)', store: 's3' } })
})

test('refused credentials: 503 STORAGE_UNAVAILABLE saying so; the same bucket with good keys is ready', async () => {
  const good = await start({ STORAGE_URL: s3.storageUrl() })
  // The API's Redis connection may still be opening just after the start.
  const readyBody = await waitFor(async () => {
    const ready = await fetch(`${good.url}/readyz`)
    return ready.status === 200 ? ((await ready.json()) as any) : undefined
  }, 5_000, 'the API with a working store to be ready')
  expect(readyBody.checks).toEqual({ redis: 'ok', storage: 'ok', store: 's3' })
  expect((await upload(good)).status).toBe(201)

  const saved = process.env.AWS_ACCESS_KEY_ID
  process.env.AWS_ACCESS_KEY_ID = 'NOT-A-KEY'
  try {
    const refused = await start({ STORAGE_URL: good.config.STORAGE_URL })
    const response = await fetch(`${refused.url}/datasets`)
    expect(response.status).toBe(503)
    const { error } = (await response.json()) as any
    expect(error).toMatchObject({ code: 'STORAGE_UNAVAILABLE', details: { cause: 'InvalidAccessKeyId' } })
    expect(error.message).toBe("the object store refused the service's credentials (InvalidAccessKeyId)")
    const ready = await fetch(`${refused.url}/readyz`)
    expect(ready.status).toBe(503)
    // The probe is a HEAD: the answer has no body, so the SDK names no error code.
    expect(((await ready.json()) as any).checks.storage).toMatch(/^unavailable \(\w+\)$/)
  } finally {
    process.env.AWS_ACCESS_KEY_ID = saved
  }
})

test('a missing bucket stops the start with an error naming it', async () => {
  const config = await testConfig({ STORAGE_URL: s3.storageUrl().replace('s3://imagetune-test/', 's3://no-such-bucket/') })
  await expect(buildApp(config, createLogger('silent', 'test'))).rejects.toThrow("STORAGE_URL: bucket 'no-such-bucket' does not exist")
})
