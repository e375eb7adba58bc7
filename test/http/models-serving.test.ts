/**
 * Serving models to other services: aliases (`model=prod`) that move atomically, and model files with ETags that
 * tfjs loads over real HTTP to the same scores the server gives.
 */
import * as tf from '@tensorflow/tfjs'
import { decodeImage, toInputTensor } from '../../src/ml/image.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { bandsImage, saveTinyModel, TINY_SIZE } from '../helpers/tiny-model.js'

const FIRST = 'model-one'
const SECOND = 'model-two'
const DOOMED = 'model-three'
const FORCED = 'model-four'

let service: TestService
let image: Buffer

beforeAll(async () => {
  service = await startTestService()
  await saveTinyModel(service.config.DATA_DIR, FIRST, ['one-a', 'one-b'], 1)
  await saveTinyModel(service.config.DATA_DIR, SECOND, ['two-a', 'two-b', 'two-c'], 2)
  await saveTinyModel(service.config.DATA_DIR, DOOMED, ['three-a', 'three-b'], 3)
  await saveTinyModel(service.config.DATA_DIR, FORCED, ['four-a', 'four-b'], 4)
  image = await bandsImage(7)
})
afterAll(async () => {
  await service?.close()
})

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as any) : undefined }
}
const predict = (model: string) =>
  fetch(`${service.url}/predict?model=${model}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as any,
  }))

test('an alias is created, moved, listed, resolved by /predict and removed', async () => {
  expect((await call('GET', '/models/aliases/prod')).status).toBe(404)
  expect((await predict('prod')).status).toBe(404)

  const created = await call('PUT', '/models/aliases/prod', { modelId: FIRST })
  expect(created).toMatchObject({ status: 200, body: { name: 'prod', modelId: FIRST } })
  const before = await predict('prod')
  expect(before.status).toBe(200)
  expect(before.body.model).toBe(FIRST)
  expect(before.body.predictions[0].label).toMatch(/^one-/)

  expect((await call('PUT', '/models/aliases/prod', { modelId: SECOND })).status).toBe(200)
  const after = await predict('prod')
  expect(after.body.model).toBe(SECOND)
  expect(after.body.predictions[0].label).toMatch(/^two-/)
  expect((await call('GET', '/models/aliases/prod')).body).toEqual({ name: 'prod', modelId: SECOND })
  expect((await call('PUT', '/models/aliases/canary', { modelId: FIRST })).status).toBe(200)
  // By name: each alias is its own object in the store, so there is no insertion order to keep.
  expect((await call('GET', '/models/aliases')).body.aliases).toEqual([
    { name: 'canary', modelId: FIRST },
    { name: 'prod', modelId: SECOND },
  ])

  // A target that does not exist, a bad name and unknown fields are refused; the alias keeps its target.
  expect((await call('PUT', '/models/aliases/prod', { modelId: 'no-such-model' })).body.error.code).toBe('MODEL_NOT_FOUND')
  expect((await call('PUT', '/models/aliases/Prod!', { modelId: FIRST })).status).toBe(400)
  expect((await call('PUT', '/models/aliases/prod', { modelId: FIRST, extra: true })).status).toBe(400)
  expect((await call('GET', '/models/aliases/prod')).body.modelId).toBe(SECOND)

  expect((await call('DELETE', '/models/aliases/canary')).status).toBe(204)
  expect((await call('DELETE', '/models/aliases/canary')).body.error.code).toBe('ALIAS_NOT_FOUND')
  expect((await predict('canary')).status).toBe(404)
  // Model ids keep working beside aliases.
  expect((await predict(FIRST)).body.model).toBe(FIRST)
})

test('a model that aliases point at is not deleted (409 MODEL_IN_USE naming them) unless force=true, which takes the aliases along', async () => {
  for (const name of ['blue', 'green']) expect((await call('PUT', `/models/aliases/${name}`, { modelId: DOOMED })).status).toBe(200)
  const refused = await call('DELETE', `/models/${DOOMED}`)
  expect(refused.status).toBe(409)
  expect(refused.body.error).toMatchObject({ code: 'MODEL_IN_USE', details: { aliases: ['blue', 'green'] } })
  expect((await predict('blue')).body.model).toBe(DOOMED) // nothing changed

  // Without aliases it goes at once; the other model's aliases stay.
  expect((await call('DELETE', '/models/aliases/blue')).status).toBe(204)
  expect((await call('DELETE', '/models/aliases/green')).status).toBe(204)
  expect((await call('PUT', '/models/aliases/keep', { modelId: FIRST })).status).toBe(200)
  expect((await call('DELETE', `/models/${DOOMED}`)).status).toBe(204)

  for (const name of ['staging', 'edge']) expect((await call('PUT', `/models/aliases/${name}`, { modelId: FORCED })).status).toBe(200)
  expect((await call('DELETE', `/models/${FORCED}?force=true`)).status).toBe(204)
  const left = (await call('GET', '/models/aliases')).body.aliases as { name: string; modelId: string }[]
  expect(left.filter((a) => a.modelId === FORCED)).toEqual([])
  expect(left).toContainEqual({ name: 'keep', modelId: FIRST })
  expect((await call('GET', '/models/aliases/staging')).status).toBe(404)
  expect((await predict('staging')).status).toBe(404)
  expect((await call('DELETE', '/models/aliases/keep')).status).toBe(204)
})

test('a prediction by alias resolves the alias first: no Redis lookup of the alias name as a job', async () => {
  expect((await call('PUT', '/models/aliases/live', { modelId: FIRST })).status).toBe(200)
  const queue = service.app.trainingQueue
  const realGet = queue.get
  const asked: string[] = []
  // Counts, then reads the real queue: the readiness check must not ask Redis about a name that is an alias.
  queue.get = async (jobId) => {
    asked.push(jobId)
    return realGet(jobId)
  }
  try {
    for (let i = 0; i < 3; i++) expect((await predict('live')).body.model).toBe(FIRST)
    expect(asked).toEqual([])
    expect((await predict('no-such-model')).status).toBe(404)
    expect(asked).toEqual(['no-such-model']) // an unknown name is still looked up: it may be a job still training
  } finally {
    queue.get = realGet
  }
  expect((await call('DELETE', '/models/aliases/live')).status).toBe(204)
})

test('model files carry an ETag; If-None-Match answers 304', async () => {
  for (const file of ['model.json', 'weights.bin']) {
    const first = await fetch(`${service.url}/models/${FIRST}/${file}`)
    expect(first.status).toBe(200)
    await first.arrayBuffer()
    const etag = first.headers.get('etag')
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/)
    expect(first.headers.get('cache-control')).toContain('immutable')

    const again = await fetch(`${service.url}/models/${FIRST}/${file}`, { headers: { 'if-none-match': `"other", W/${etag}` } })
    expect(again.status).toBe(304)
    expect(again.headers.get('etag')).toBe(etag)
    expect((await again.arrayBuffer()).byteLength).toBe(0)

    const stale = await fetch(`${service.url}/models/${FIRST}/${file}`, { headers: { 'if-none-match': '"stale"' } })
    expect(stale.status).toBe(200)
    await stale.arrayBuffer()
  }
  // Each model's files have their own tags.
  const other = await fetch(`${service.url}/models/${SECOND}/weights.bin`)
  await other.arrayBuffer()
  const mine = await fetch(`${service.url}/models/${FIRST}/weights.bin`)
  await mine.arrayBuffer()
  expect(other.headers.get('etag')).not.toBe(mine.headers.get('etag'))
  expect((await call('GET', `/models/${FIRST}/nope.bin`)).status).toBe(404)
})

test('tf.loadLayersModel over HTTP reproduces the server scores', async () => {
  // Plain HTTP fetches, as a browser makes them. The JSON is parsed in the test's realm: jest's sandbox does not see
  // Node's arrays as `instanceof Array`, which tfjs checks while reading the topology.
  const fetchFunc = async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init)
    return Object.assign(response, { json: async () => JSON.parse(await response.text()) as unknown })
  }
  const model = await tf.loadLayersModel(`${service.url}/models/${SECOND}/model.json`, { fetchFunc })
  const pixels = await decodeImage(image, TINY_SIZE, { maxPixels: 1_000_000 })
  const local = tf.tidy(() => (model.predict(toInputTensor([pixels], TINY_SIZE, 'scale_0_1')) as tf.Tensor).arraySync() as number[][])[0]!
  model.dispose()
  const served = await fetch(`${service.url}/predict?model=${SECOND}&topK=3`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) })
  const { predictions } = (await served.json()) as { predictions: { label: string; score: number }[] }
  const labels = ['two-a', 'two-b', 'two-c']
  expect(predictions).toHaveLength(3)
  for (const { label, score } of predictions) expect(score).toBeCloseTo(local[labels.indexOf(label)]!, 5)
})
