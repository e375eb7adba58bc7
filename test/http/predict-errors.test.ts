import { startTestService, type TestService } from '../helpers/service.js'

let service: TestService

beforeAll(async () => {
  service = await startTestService()
})
afterAll(async () => {
  await service?.close()
})

async function post(path: string, body: BodyInit, contentType: string) {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body })
  return { status: response.status, body: (await response.json()) as any }
}

test('an unknown model is 404 MODEL_NOT_FOUND', async () => {
  const { status, body } = await post('/predict?model=00000000-0000-4000-8000-000000000000', Buffer.from([0x89, 0x50]), 'image/png')
  expect(status).toBe(404)
  expect(body.error.code).toBe('MODEL_NOT_FOUND')
})

test('a body that is not an image type is 415', async () => {
  const { status, body } = await post('/predict?model=00000000-0000-4000-8000-000000000000', 'hello', 'text/plain')
  expect(status).toBe(415)
  expect(body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
})

test('a model id that is not an id is refused before any lookup', async () => {
  const { status, body } = await post('/predict?model=..%2F..%2Fetc', Buffer.from('x'), 'image/png')
  expect(status).toBe(400)
  expect(body.error.code).toBe('VALIDATION')
})

test('GET /predict without a URL is a 400', async () => {
  const response = await fetch(`${service.url}/predict?model=abc`)
  expect(response.status).toBe(400)
  expect(((await response.json()) as any).error.code).toBe('VALIDATION')
})

test('every response names its request: the x-request-id sent, or a generated one', async () => {
  const chosen = await fetch(`${service.url}/healthz`, { headers: { 'x-request-id': 'trace-42' } })
  expect(chosen.headers.get('x-request-id')).toBe('trace-42')
  await chosen.body?.cancel()
  const generated = await fetch(`${service.url}/nope`)
  expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  await generated.body?.cancel()
})

test('health and readiness answer', async () => {
  expect((await fetch(`${service.url}/healthz`)).status).toBe(200)
  const ready = await fetch(`${service.url}/readyz`)
  expect(ready.status).toBe(200)
  expect(((await ready.json()) as any).checks).toEqual({ redis: 'ok', storage: 'ok', store: 'local' })
})

test('unknown routes answer 404 in the error shape', async () => {
  const response = await fetch(`${service.url}/nope`)
  expect(response.status).toBe(404)
  expect(((await response.json()) as any).error.code).toBe('NOT_FOUND')
})
