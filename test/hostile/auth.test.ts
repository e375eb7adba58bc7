/**
 * API keys against the real HTTP server: hashed in config (hashed the way the README says, with sha256sum),
 * two scopes, probes open, 401/403 with codes, and the service unharmed by any of it.
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { loadConfig } from '../../src/config.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { json } from '../helpers/http.js'
import { expectAlive, expectError, storeTinyModel, TINY_MODEL, uploadDataset, validZip } from './support.js'

const KEYS = { train: `train-${randomUUID()}`, predict: `predict-${randomUUID()}`, both: `both-${randomUUID()}` }

/** The README's recipe: `printf %s "$KEY" | sha256sum`. */
function sha256sum(key: string): string {
  return execFileSync('sh', ['-c', 'printf %s "$KEY" | sha256sum'], { env: { ...process.env, KEY: key } }).toString().split(' ')[0] as string
}

let service: TestService

beforeAll(async () => {
  const API_KEYS = `${sha256sum(KEYS.train)}:train, ${sha256sum(KEYS.predict)}:predict,${sha256sum(KEYS.both)}:predict+train`
  service = await startTestService({ API_KEYS })
  await storeTinyModel(service)
})
afterAll(async () => {
  await service?.close()
})
afterEach(async () => {
  await expectAlive(service, { authorization: `Bearer ${KEYS.predict}` })
})

const call = async (method: string, path: string, key?: string, headers: Record<string, string> = {}) =>
  json(await fetch(`${service.url}${path}`, { method, headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...headers } }))

test('/healthz, /readyz and /docs answer without a key', async () => {
  for (const path of ['/healthz', '/readyz', '/docs', '/docs/openapi.json', '/docs/static/swagger-ui.css']) expect((await call('GET', path)).status).toBe(200)
})

test('no key, a wrong key, a near-miss key and other schemes are 401 UNAUTHORIZED with WWW-Authenticate', async () => {
  const attempts: [string, Record<string, string>][] = [
    ['none', {}],
    ['wrong', { authorization: `Bearer ${randomUUID()}` }],
    ['near miss', { authorization: `Bearer ${KEYS.train.slice(0, -1)}x` }],
    ['empty', { authorization: 'Bearer ' }],
    ['basic', { authorization: `Basic ${Buffer.from(`user:${KEYS.train}`).toString('base64')}` }],
    ['hash instead of key', { authorization: `Bearer ${sha256sum(KEYS.train)}` }],
  ]
  for (const [, headers] of attempts) {
    for (const [method, path] of [['GET', '/datasets'], ['POST', '/jobs'], ['GET', '/models'], ['POST', `/predict?model=${TINY_MODEL}`], ['GET', '/nowhere']] as const) {
      const response = await call(method, path, undefined, headers)
      expectError(response, 401, 'UNAUTHORIZED')
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
    }
  }
})

test('a predict key cannot train, a train key cannot predict: 403 FORBIDDEN', async () => {
  for (const [method, path] of [['GET', '/datasets'], ['POST', '/jobs'], ['GET', '/jobs'], ['GET', '/models'], ['GET', `/models/${TINY_MODEL}`], ['DELETE', `/models/${TINY_MODEL}`]] as const) {
    expectError(await call(method, path, KEYS.predict), 403, 'FORBIDDEN')
  }
  const error = expectError(await call('POST', `/predict?model=${TINY_MODEL}`, KEYS.train, { 'content-type': 'image/png' }), 403, 'FORBIDDEN')
  expect(error.details).toEqual({ required: ['predict'], scopes: ['train'] })
  expect((await call('GET', `/models/${TINY_MODEL}`, KEYS.train)).status).toBe(200)
})

test('a predict key may load the model files a browser needs', async () => {
  const modelJson = await fetch(`${service.url}/models/${TINY_MODEL}/model.json`, { headers: { authorization: `Bearer ${KEYS.predict}` } })
  expect(modelJson.status).toBe(200)
  const { weightsManifest } = (await modelJson.json()) as { weightsManifest: { paths: string[] }[] }
  const weights = await fetch(`${service.url}/models/${TINY_MODEL}/${weightsManifest[0]!.paths[0]}`, { headers: { authorization: `Bearer ${KEYS.predict}` } })
  expect(weights.status).toBe(200)
  await weights.arrayBuffer()
})

test('train and predict+train keys work end to end; an unknown route with a key is 404', async () => {
  const uploaded = await uploadDataset(service, await validZip(), 'set.zip', { authorization: `Bearer ${KEYS.train}` })
  expect(uploaded.status).toBe(201)
  expect((await call('GET', `/datasets/${uploaded.body.id}`, KEYS.both)).status).toBe(200)
  expect((await call('DELETE', `/datasets/${uploaded.body.id}`, KEYS.both)).status).toBe(204)
  expectError(await call('GET', '/nowhere', KEYS.both), 404, 'NOT_FOUND')
  await expectAlive(service, { authorization: `Bearer ${KEYS.both}` })
})

test('every route the app has is either open or needs a scope, and only probes and docs are open', async () => {
  // Asked over HTTP without a key: each route's rule now lives in its own config, so the answer is the test.
  const spec = service.app.swagger() as { paths: Record<string, Record<string, unknown>> }
  const routes = Object.entries(spec.paths).flatMap(([route, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), route] as const))
  expect(routes.length).toBeGreaterThan(20)
  const open: string[] = []
  for (const [method, route] of routes) {
    const answer = await call(method, route.replace(/\{(\w+)\}/g, (_all, name: string) => (name === 'file' ? 'weights.bin' : 'x')))
    if (answer.status !== 401) open.push(`${method} ${route}`)
  }
  expect(open.sort()).toEqual(['GET /healthz', 'GET /metrics', 'GET /readyz'])
})

test('API_KEYS that are not sha256hex:scopes are a configuration error', () => {
  for (const bad of ['plaintext-key:train', `${'a'.repeat(64)}:owner`, `${'a'.repeat(64)}`, `${'A'.repeat(64)}:train`, `${'a'.repeat(64)}:train,`]) {
    expect(() => loadConfig({ API_KEYS: bad })).toThrow(/invalid configuration/)
  }
  expect(loadConfig({ API_KEYS: `${'a'.repeat(64)}:train+predict, ${'b'.repeat(64)}:predict` }).API_KEYS).toContain('train+predict')
})
