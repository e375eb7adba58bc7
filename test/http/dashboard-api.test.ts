/**
 * The two routes the dashboard added: the paged gallery listing of a dataset (`GET /datasets/:id/images`) and a
 * model's display name (`PATCH /models/:id`), over real HTTP with API keys.
 */
import { randomUUID } from 'node:crypto'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { saveTinyModel } from '../helpers/tiny-model.js'

const TRAIN_KEY = `train-${randomUUID()}`
const PREDICT_KEY = `predict-${randomUUID()}`
const MODEL = 'model-to-rename'

let service: TestService
let datasetId: string

beforeAll(async () => {
  service = await startTestService({ API_KEYS: `${hashApiKey(TRAIN_KEY)}:train,${hashApiKey(PREDICT_KEY)}:predict` })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ cats: 5, dogs: 3 }, { size: 24 })))]), 'pets.zip')
  const upload = await fetch(`${service.url}/datasets`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TRAIN_KEY}` } })
  expect(upload.status).toBe(201)
  datasetId = ((await upload.json()) as { id: string }).id
  await saveTinyModel(service.config.DATA_DIR, MODEL, ['a', 'b'])
})
afterAll(async () => {
  await service?.close()
})

async function call(method: string, path: string, body?: unknown, key: string | null = TRAIN_KEY) {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${service.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await response.text()
  return { status: response.status, body: text ? (JSON.parse(text) as any) : undefined }
}

test('the gallery pages through one class with an opaque cursor until nextCursor is null', async () => {
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const query: string = `class=cats&limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const page = await call('GET', `/datasets/${datasetId}/images?${query}`)
    expect(page.status).toBe(200)
    expect(page.body.items.length).toBeLessThanOrEqual(2)
    for (const item of page.body.items) {
      expect(item).toEqual({ path: expect.stringMatching(/^images\/cats\/[^/]+$/), label: 'cats', url: `/datasets/${datasetId}/${item.path}` })
      seen.push(item.path)
    }
    cursor = page.body.nextCursor
    pages += 1
  } while (cursor)
  expect(pages).toBe(3)
  expect(seen).toHaveLength(5)
  expect(new Set(seen).size).toBe(5)

  // Each url is the image itself.
  const image = await fetch(`${service.url}/datasets/${datasetId}/${seen[0]}`, { headers: { authorization: `Bearer ${TRAIN_KEY}` } })
  expect(image.status).toBe(200)
  expect(image.headers.get('content-type')).toBe('image/png')

  // Without a class: every image, 60 to a page by default.
  const all = await call('GET', `/datasets/${datasetId}/images`)
  expect(all.body.items.map((i: { label: string }) => i.label)).toEqual([...Array(5).fill('cats'), ...Array(3).fill('dogs')])
  expect(all.body.nextCursor).toBeNull()
})

test('the gallery refuses bad input with 4xx and needs a train key', async () => {
  expect((await call('GET', `/datasets/${datasetId}/images?class=horses`)).body.error.code).toBe('NOT_FOUND')
  expect((await call('GET', `/datasets/${datasetId}/images?cursor=bm9wZQ`)).status).toBe(400)
  expect((await call('GET', `/datasets/${datasetId}/images?limit=0`)).status).toBe(400)
  expect((await call('GET', `/datasets/${datasetId}/images?limit=201`)).status).toBe(400)
  expect((await call('GET', `/datasets/${randomUUID()}/images`)).body.error.code).toBe('DATASET_NOT_FOUND')
  expect((await call('GET', `/datasets/${datasetId}/images`, undefined, null)).status).toBe(401)
  expect((await call('GET', `/datasets/${datasetId}/images`, undefined, PREDICT_KEY)).status).toBe(403)
})

test('PATCH /models/:id stores a display name that the model documents then carry', async () => {
  const renamed = await call('PATCH', `/models/${MODEL}`, { name: '  Shapes, v2  ' })
  expect(renamed.status).toBe(200)
  expect(renamed.body).toMatchObject({ id: MODEL, name: 'Shapes, v2', labels: ['a', 'b'] })
  expect((await call('GET', `/models/${MODEL}`)).body.name).toBe('Shapes, v2')
  expect((await call('GET', '/models')).body.models.find((m: { id: string }) => m.id === MODEL).name).toBe('Shapes, v2')
  // The weights are untouched: the model still serves.
  expect((await call('GET', `/models/${MODEL}/model.json`)).status).toBe(200)

  for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 'ok', extra: 1 }]) {
    const response = await call('PATCH', `/models/${MODEL}`, body)
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe('VALIDATION')
  }
  expect((await call('PATCH', '/models/no-such-model', { name: 'x' })).body.error.code).toBe('MODEL_NOT_FOUND')
  expect((await call('PATCH', `/models/${MODEL}`, { name: 'x' }, PREDICT_KEY)).status).toBe(403)
  expect((await call('GET', `/models/${MODEL}`)).body.name).toBe('Shapes, v2')
})
