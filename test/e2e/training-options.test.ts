/**
 * Training options through the API and a real worker: validation of POST /jobs, then one job with every option
 * on a tiny custom base served over HTTP, its report in the job result, metadata.json and GET /models/:id.
 */
import path from 'node:path'
import { json } from '../helpers/http.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, untilJob, type TestService, type WorkerProcess } from '../helpers/service.js'
import { serveTinyBase, type ServedTinyBase } from '../helpers/tiny-base.js'

const SIZE = 32
let service: TestService
let worker: WorkerProcess
let tinyBase: ServedTinyBase | undefined
let baseUrl: string
let datasetId: string

const post = (body: unknown) =>
  fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(json)

beforeAll(async () => {
  service = await startTestService()
  worker = startWorkerProcess(service.config)
  // A tiny base served over HTTP, as any tfjs LayersModel could be.
  tinyBase = await serveTinyBase(path.join(service.config.DATA_DIR, 'tiny-base'), { size: SIZE, headUnits: 4 })
  baseUrl = tinyBase.url

  // Imbalanced: 'stripes' has a third of 'circle's images.
  const files = await makeImageFolder({ circle: 15, stripes: 5, checker: 10 }, { size: 48, patterns: { circle: 'red-circle', stripes: 'blue-stripes', checker: 'green-checker' } })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(files))]), 'set.zip')
  const upload = await json(await fetch(`${service.url}/datasets`, { method: 'POST', body: form }))
  expect(upload.status).toBe(201)
  datasetId = upload.body.id
})

afterAll(async () => {
  await tinyBase?.close()
  await worker?.stop()
  await service?.close()
})

test.each([
  [{ optimizer: 'rmsprop' }, 'optimizer'],
  [{ labelSmoothing: 0.9 }, 'labelSmoothing'],
  [{ dropout: 1 }, 'dropout'],
  [{ hiddenUnits: -1 }, 'hiddenUnits'],
  [{ earlyStopping: { monitor: 'valLoss' } }, 'patience'],
  [{ earlyStopping: { patience: 2, monitor: 'loss' } }, 'monitor'],
  [{ classWeights: 'heavy' }, 'classWeights'],
  [{ classWeights: { circle: -1 } }, 'classWeights'],
  [{ augment: { flip: true, views: 0 } }, 'views'],
  [{ augment: { mirror: true } }, 'augment'],
  [{ fineTuneLayers: 1.5 }, 'fineTuneLayers'],
  [{ baseModel: { url: 'x', preprocessing: 'scale_0_255' } }, 'baseModel'],
  // A GraphModel base trains the head only; the default base is one, so fine-tuning names its base.
  [{ baseModel: 'mobilenet_v3_coco', fineTuneLayers: 2 }, 'fineTuneLayers'],
  [{ fineTuneLayers: 2 }, 'the default base'],
])('POST /jobs %j → 400 VALIDATION naming %s', async (options, field) => {
  const res = await post({ datasetId, ...options })
  expect(res.status).toBe(400)
  expect(res.body.error.code).toBe('VALIDATION')
  expect(res.body.error.message).toContain(field)
})

test('POST /jobs: augment with every change off and a weight for a missing class are 400 with a reason', async () => {
  const off = await post({ datasetId, augment: { views: 2 } })
  expect(off.status).toBe(400)
  expect(off.body.error.message).toMatch(/at least one of flip/)
  const missing = await post({ datasetId, classWeights: { circle: 2, dog: 1 } })
  expect(missing.status).toBe(400)
  expect(missing.body.error).toMatchObject({ code: 'VALIDATION', details: { unknown: ['dog'] } })
})

test.each([false, null])('POST /jobs augment: %j means no augmentation, as the job document shows it', async (augment) => {
  const created = await post({ datasetId, baseModel: { url: baseUrl }, epochs: 1, augment })
  expect(created.status).toBe(202)
  const doc = await json(await fetch(`${service.url}/jobs/${created.body.id}`))
  expect(doc.body.options).toMatchObject({ augment: null })
  await fetch(`${service.url}/jobs/${created.body.id}`, { method: 'DELETE' })
})

test('a job with every option reports best epoch, misclassified images, warnings and history, in the result and the model', async () => {
  const created = await post({
    datasetId,
    baseModel: { url: baseUrl },
    epochs: 6,
    batchSize: 8,
    learningRate: 0.01,
    seed: 3,
    optimizer: 'sgd',
    labelSmoothing: 0.05,
    hiddenUnits: 0,
    earlyStopping: { patience: 4, monitor: 'valAccuracy' },
    augment: { flip: true, brightness: true, views: 2 },
    fineTuneLayers: 1,
  })
  expect(created.status).toBe(202)
  expect(created.body.options).toMatchObject({
    optimizer: 'sgd',
    dropout: 0.2,
    classWeights: 'auto',
    earlyStopping: { patience: 4, monitor: 'valAccuracy', minDelta: 0 },
    augment: { flip: true, crop: false, rotate: false, brightness: true, contrast: false, views: 2 },
    fineTuneLayers: 1,
  })
  const done = await untilJob(service.url, created.body.id, 'the training job to finish', { timeoutMs: 120_000 })
  expect(done.error).toBeUndefined()
  const result = done.result
  expect(result.fineTuned).toEqual({ cutLayer: 'conv1', layers: ['conv2'] })
  expect(result.trainViews).toBe(result.trainCount * 3)
  // stripes has 4 training images to circle's 12: 'auto' weighs classes.
  expect(result.classWeights.stripes).toBeGreaterThan(result.classWeights.circle)
  expect(result.warnings).toContain("training classes are imbalanced: 'circle' has 12 images, 'stripes' has 4")
  expect(result.history.at(-1)).toMatchObject({ phase: 'fineTune', learningRate: 0.001 })
  expect(result.history.every((h: any) => typeof h.seconds === 'number' && typeof h.learningRate === 'number')).toBe(true)
  expect(result.bestEpoch).toBeGreaterThanOrEqual(1)
  expect(result.bestEpoch).toBeLessThanOrEqual(result.history.length)
  // The list is every wrong validation prediction (there are fewer than its cap of 100): exactly the confusion
  // matrix's off-diagonal counts, pair by pair, whether that is none or many.
  const wrongPairs = Object.entries(result.metrics.confusionByLabel as Record<string, Record<string, number>>).flatMap(([truth, row]) =>
    Object.entries(row).flatMap(([predicted, count]) => (truth === predicted ? [] : Array<string>(count).fill(`${truth}→${predicted}`))),
  )
  expect(result.misclassified.map((m: any) => `${m.true}→${m.predicted}`).sort()).toEqual(wrongPairs.sort())
  expect(result.misclassified).toEqual(
    result.misclassified.map(() => ({ path: expect.stringMatching(/^images\//), true: expect.any(String), predicted: expect.any(String), score: expect.any(Number) })),
  )
  expect(Object.keys(result.metrics.confusionByLabel).sort()).toEqual(['checker', 'circle', 'stripes'])
  expect(done.history.at(-1).phase).toBe('fineTune')

  const model = await json(await fetch(`${service.url}/models/${result.modelId}`))
  expect(model.status).toBe(200)
  for (const field of ['bestEpoch', 'misclassified', 'warnings', 'classWeights', 'fineTuned', 'evaluatedOn', 'trainViews']) {
    expect(model.body[field]).toEqual(result[field])
  }
  expect(model.body.history).toEqual(result.history)

  // The model's params are options the API returned: POST /jobs takes them back and queues the same options.
  const again = await post({ datasetId: model.body.datasetId, ...model.body.params })
  expect([again.status, again.body.error]).toEqual([202, undefined])
  expect(again.body.options).toEqual(done.options)
  expect((await fetch(`${service.url}/jobs/${again.body.id}`, { method: 'DELETE' })).status).toBeLessThan(300)
})
