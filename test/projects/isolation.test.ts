/**
 * Two projects on one API (real HTTP, Redis, store): every route of the OpenAPI document is walked with project B's
 * key against project A's resources. The route list comes from the document, and each route must have a check
 * here, so a new route cannot be forgotten. Another project's id answers exactly as a missing id does, lists show
 * only the project's own resources, and names (aliases, bases) are per project.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { makeZip, type ArchiveFile } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { json, type JsonResponse } from '../helpers/http.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { writeTinyBase } from '../helpers/tiny-base.js'
import { saveTinyModel, TINY_SIZE } from '../helpers/tiny-model.js'
import { repositoriesFor } from '../../src/storage/repositories.js'
import { expectError, uploadDataset, validZip } from '../hostile/support.js'

const ADMIN = `admin-${randomUUID()}`
let service: TestService
const keys = { a: '', b: '' }
const ids = { a: '', b: '' }
/** Project A's resources, which B must not see. */
const own = { dataset: '', imageUrl: '', base: 'a-base', model: randomUUID(), weights: '', alias: 'a-only', job: '' }
const bModel = randomUUID()
let baseZip: Buffer

async function call(method: string, url: string, key: string | undefined, body?: unknown): Promise<JsonResponse> {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {}
  let payload: BodyInit | null = null
  if (body instanceof Uint8Array) {
    headers['content-type'] = 'image/png'
    payload = new Uint8Array(body)
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  return json(await fetch(`${service.url}${url}`, { method, headers, body: payload }))
}

async function uploadBase(key: string, name: string): Promise<JsonResponse> {
  const form = new FormData()
  form.append('name', name)
  form.append('file', new Blob([new Uint8Array(baseZip)]), 'model.zip')
  return json(await fetch(`${service.url}/bases`, { method: 'POST', body: form, headers: { authorization: `Bearer ${key}` } }))
}

/** B asking for A's resource answers exactly what asking for a missing one answers: status, code, message shape. */
function expectLikeMissing(foreign: JsonResponse, missing: JsonResponse, foreignId: string, missingId: string): void {
  expect(foreign.status).toBe(404)
  expect(missing.status).toBe(404)
  expect(foreign.body.error.code).toBe(missing.body.error.code)
  expect(foreign.body.error.message.replaceAll(foreignId, '<id>')).toBe(missing.body.error.message.replaceAll(missingId, '<id>'))
}

/** `method url` with B's key on A's id, then with B's key on a missing id of the same form. */
async function compareMissing(method: string, url: (id: string) => string, foreignId: string, missingId: string, body?: unknown): Promise<void> {
  expectLikeMissing(await call(method, url(foreignId), keys.b, body), await call(method, url(missingId), keys.b, body), foreignId, missingId)
}

beforeAll(async () => {
  service = await startTestService({ API_KEYS: `${hashApiKey(ADMIN)}:admin` })
  const baseDir = path.join(service.config.DATA_DIR, 'tiny-layers')
  await writeTinyBase(baseDir, { size: TINY_SIZE, headUnits: 4 })
  const files: ArchiveFile[] = await Promise.all((await readdir(baseDir)).map(async (name) => ({ path: name, data: await readFile(path.join(baseDir, name)) })))
  baseZip = await makeZip(files)

  for (const p of ['a', 'b'] as const) {
    ids[p] = (await call('POST', '/projects', ADMIN, { name: `team-${p}` })).body.id
    keys[p] = (await call('POST', `/projects/${ids[p]}/keys`, ADMIN, { scopes: ['train', 'predict'] })).body.key
  }
  const zip = await validZip()
  const dataset = await uploadDataset(service, zip, 'a.zip', { authorization: `Bearer ${keys.a}` })
  expect(dataset.status).toBe(201)
  own.dataset = dataset.body.id
  own.imageUrl = (await call('GET', `/datasets/${own.dataset}/images`, keys.a)).body.items[0].url
  expect((await uploadBase(keys.a, own.base)).status).toBe(201)
  const repos = (projectId: string) => repositoriesFor(service.app.stores, projectId, { layout: service.app.layout })
  await saveTinyModel(repos(ids.a).models, own.model, ['a', 'b'])
  await saveTinyModel(repos(ids.b).models, bModel, ['x', 'y'])
  own.weights = (await call('GET', `/models/${own.model}/model.json`, keys.a)).body.weightsManifest[0].paths[0]
  expect((await call('PUT', `/models/aliases/${own.alias}`, keys.a, { modelId: own.model })).status).toBe(200)
  // Both projects have their own `prod`.
  expect((await call('PUT', '/models/aliases/prod', keys.a, { modelId: own.model })).status).toBe(200)
  expect((await call('PUT', '/models/aliases/prod', keys.b, { modelId: bModel })).status).toBe(200)
  // No worker runs: the job stays queued.
  const job = await call('POST', '/jobs', keys.a, { datasetId: own.dataset, epochs: 1 })
  expect(job.status).toBe(202)
  own.job = job.body.id
})
afterAll(async () => {
  await service?.close()
})

const missing = () => randomUUID()
const image = () => makeImage('red-circle', { size: TINY_SIZE })
/** Nothing of A's in a JSON answer. */
const expectNoneOfA = (response: JsonResponse) => {
  expect(response.status).toBe(200)
  const text = JSON.stringify(response.body)
  for (const value of [own.dataset, own.model, own.job, own.base, own.alias]) expect(text).not.toContain(value)
}

const forbidden = (response: JsonResponse): void => void expectError(response, 403, 'FORBIDDEN')

/** One check per operation of the OpenAPI document: B's key against A's resources. */
const WALK: Record<string, () => Promise<void>> = {
  'GET /metrics': async () => expect((await call('GET', '/metrics', keys.b)).status).toBe(200),
  'GET /healthz': async () => expect((await call('GET', '/healthz', keys.b)).status).toBe(200),
  'GET /readyz': async () => expect((await call('GET', '/readyz', keys.b)).status).toBe(200),
  'GET /whoami': async () => expect((await call('GET', '/whoami', keys.b)).body.project.id).toBe(ids.b),

  'POST /datasets': async () => {
    const created = await uploadDataset(service, await validZip(), 'b.zip', { authorization: `Bearer ${keys.b}` })
    expect(created.status).toBe(201)
    // In B's part of the store, and nowhere A looks.
    expect(existsSync(path.join(service.config.DATA_DIR, 'projects', ids.b, 'datasets', created.body.id))).toBe(true)
    expect((await call('GET', `/datasets/${created.body.id}`, keys.a)).status).toBe(404)
  },
  'GET /datasets': async () => expectNoneOfA(await call('GET', '/datasets', keys.b)),
  'GET /datasets/{id}': () => compareMissing('GET', (id) => `/datasets/${id}`, own.dataset, missing()),
  'DELETE /datasets/{id}': () => compareMissing('DELETE', (id) => `/datasets/${id}`, own.dataset, missing()),
  'POST /datasets/{id}/revisions': () => compareMissing('POST', (id) => `/datasets/${id}/revisions`, own.dataset, missing(), { drop: ['images/cats/0.png'] }),
  'GET /datasets/{id}/images': () => compareMissing('GET', (id) => `/datasets/${id}/images`, own.dataset, missing()),
  'GET /datasets/{id}/images/{*}': () => compareMissing('GET', (id) => own.imageUrl.replace(own.dataset, id), own.dataset, missing()),

  'POST /bases': async () => {
    // A base name is per project: B may use A's.
    expect((await uploadBase(keys.b, own.base)).status).toBe(201)
    expect((await call('DELETE', `/bases/${own.base}`, keys.b)).status).toBe(204)
  },
  'GET /bases': async () => expect((await call('GET', '/bases', keys.b)).body.uploaded).toEqual([]),
  'DELETE /bases/{name}': () => compareMissing('DELETE', (name) => `/bases/${name}`, own.base, 'no-such-base'),

  'POST /jobs': async () => {
    const foreign = await call('POST', '/jobs', keys.b, { datasetId: own.dataset, epochs: 1 })
    const absent = missing()
    expectLikeMissing(foreign, await call('POST', '/jobs', keys.b, { datasetId: absent, epochs: 1 }), own.dataset, absent)
    // A's uploaded base by name, on a dataset of B's own.
    const mine = (await call('GET', '/datasets', keys.b)).body.datasets[0].id
    expectLikeMissing(await call('POST', '/jobs', keys.b, { datasetId: mine, baseModel: own.base, epochs: 1 }), await call('POST', '/jobs', keys.b, { datasetId: mine, baseModel: 'no-such-base', epochs: 1 }), own.base, 'no-such-base')
  },
  'GET /jobs': async () => expectNoneOfA(await call('GET', '/jobs', keys.b)),
  'GET /jobs/{id}': () => compareMissing('GET', (id) => `/jobs/${id}`, own.job, missing()),
  'DELETE /jobs/{id}': async () => {
    await compareMissing('DELETE', (id) => `/jobs/${id}`, own.job, missing())
    expect((await call('GET', `/jobs/${own.job}`, keys.a)).body.status).toBe('queued')
  },
  'GET /jobs/{id}/events': () => compareMissing('GET', (id) => `/jobs/${id}/events`, own.job, missing()),

  'GET /models': async () => expectNoneOfA(await call('GET', '/models', keys.b)),
  'GET /models/aliases': async () => {
    const listed = await call('GET', '/models/aliases', keys.b)
    expect(listed.body.aliases).toEqual([{ name: 'prod', modelId: bModel }])
  },
  'GET /models/aliases/{name}': async () => {
    await compareMissing('GET', (name) => `/models/aliases/${name}`, own.alias, 'no-such-alias')
    expect((await call('GET', '/models/aliases/prod', keys.a)).body.modelId).toBe(own.model)
    expect((await call('GET', '/models/aliases/prod', keys.b)).body.modelId).toBe(bModel)
  },
  'PUT /models/aliases/{name}': async () => {
    // B cannot point an alias at A's model: the model is unknown to B.
    const absent = missing()
    expectLikeMissing(await call('PUT', '/models/aliases/stolen', keys.b, { modelId: own.model }), await call('PUT', '/models/aliases/stolen', keys.b, { modelId: absent }), own.model, absent)
  },
  'DELETE /models/aliases/{name}': async () => {
    await compareMissing('DELETE', (name) => `/models/aliases/${name}`, own.alias, 'no-such-alias')
    expect((await call('GET', `/models/aliases/${own.alias}`, keys.a)).status).toBe(200)
  },
  'GET /models/{id}': () => compareMissing('GET', (id) => `/models/${id}`, own.model, missing()),
  'PATCH /models/{id}': () => compareMissing('PATCH', (id) => `/models/${id}`, own.model, missing(), { name: 'mine now' }),
  'DELETE /models/{id}': async () => {
    await compareMissing('DELETE', (id) => `/models/${id}`, own.model, missing())
    expect((await call('GET', `/models/${own.model}`, keys.a)).status).toBe(200)
  },
  'GET /models/{id}/model.json': () => compareMissing('GET', (id) => `/models/${id}/model.json`, own.model, missing()),
  'GET /models/{id}/{file}': () => compareMissing('GET', (id) => `/models/${id}/${own.weights}`, own.model, missing()),

  'POST /predict': async () => {
    const png = await image()
    await compareMissing('POST', (id) => `/predict?model=${id}`, own.model, missing(), png)
    await compareMissing('POST', (name) => `/predict?model=${name}`, own.alias, 'no-such-alias', png)
    // Each project's `prod` is its own model.
    expect((await call('POST', '/predict?model=prod', keys.a, png)).body.model).toBe(own.model)
    expect((await call('POST', '/predict?model=prod', keys.b, png)).body.model).toBe(bModel)
  },
  'GET /predict': () => compareMissing('GET', (id) => `/predict?model=${id}&url=${encodeURIComponent('http://127.0.0.1:9/a.png')}`, own.model, missing()),

  // Administration is the admin scope's: a project key gets 403 on every admin route.
  'POST /projects': async () => forbidden(await call('POST', '/projects', keys.b, { name: 'x' })),
  'GET /projects': async () => forbidden(await call('GET', '/projects', keys.b)),
  'GET /projects/{id}': async () => forbidden(await call('GET', `/projects/${ids.a}`, keys.b)),
  'DELETE /projects/{id}': async () => forbidden(await call('DELETE', `/projects/${ids.a}`, keys.b)),
  'PUT /projects/{id}/quota': async () => forbidden(await call('PUT', `/projects/${ids.b}/quota`, keys.b, { queuedJobs: 1000 })),
  'POST /projects/{id}/keys': async () => forbidden(await call('POST', `/projects/${ids.a}/keys`, keys.b, { scopes: ['train'] })),
  'GET /projects/{id}/keys': async () => forbidden(await call('GET', `/projects/${ids.a}/keys`, keys.b)),
  'DELETE /projects/{id}/keys/{keyId}': async () =>
    forbidden(await call('DELETE', `/projects/${ids.a}/keys/${hashApiKey(keys.a).slice(0, 16)}`, keys.b)),
  'GET /projects/{id}/events': async () => forbidden(await call('GET', `/projects/${ids.a}/events`, keys.b)),
}

test('every route of the OpenAPI document has a check, and every check a route', async () => {
  const doc = (await call('GET', '/docs/openapi.json', undefined)).body as { paths: Record<string, Record<string, unknown>> }
  const operations = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m)).map((m) => `${m.toUpperCase()} ${p}`))
  expect(operations.length).toBeGreaterThan(30)
  expect(Object.keys(WALK).sort()).toEqual(operations.sort())
})

describe("project B's key against project A's resources", () => {
  test.each(Object.keys(WALK))('%s', async (operation) => {
    await WALK[operation]!()
  })
})

test("A still has everything B tried to touch; A's key predicts with A's model through the prediction threads", async () => {
  expect((await call('GET', `/datasets/${own.dataset}`, keys.a)).status).toBe(200)
  expect((await call('GET', '/bases', keys.a)).body.uploaded.map((b: { name: string }) => b.name)).toEqual([own.base])
  const predicted = await call('POST', `/predict?model=${own.alias}`, keys.a, await image())
  expect(predicted.status).toBe(200)
  expect(predicted.body.predictions.map((p: { label: string }) => p.label).sort()).toEqual(['a', 'b'])
})

test("the feature cache is per project: A's cached vector is not a hit for B, and lives under A's prefix", async () => {
  const repos = (projectId: string) => repositoriesFor(service.app.stores, projectId, { layout: service.app.layout })
  const key = 'ab'.repeat(32)
  await repos(ids.a).features.put('mobilenet_v2', key, new Float32Array([1, 2, 3]))
  expect(await repos(ids.b).features.get('mobilenet_v2', key)).toBeUndefined()
  expect(await repos('default').features.get('mobilenet_v2', key)).toBeUndefined()
  expect(existsSync(path.join(service.config.DATA_DIR, 'projects', ids.a, 'cache', 'features', 'mobilenet_v2', `${key}.bin`))).toBe(true)
})

test('deleting a project is refused while it has a queued job, then removes everything it holds', async () => {
  expectError(await call('DELETE', `/projects/${ids.a}`, ADMIN), 409, 'PROJECT_BUSY')
  expect((await call('DELETE', `/jobs/${own.job}`, keys.a)).status).toBe(200)
  expect((await call('DELETE', `/projects/${ids.a}`, ADMIN)).status).toBe(204)
  expectError(await call('GET', '/whoami', keys.a), 401, 'UNAUTHORIZED')
  expect(existsSync(path.join(service.config.DATA_DIR, 'projects', ids.a))).toBe(false)
  expectError(await call('GET', `/projects/${ids.a}`, ADMIN), 404, 'PROJECT_NOT_FOUND')
  // B is untouched.
  expect((await call('POST', '/predict?model=prod', keys.b, await image())).body.model).toBe(bModel)
})
