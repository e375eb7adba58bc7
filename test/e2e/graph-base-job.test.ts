/**
 * A job on the bundled GraphModel base (`mobilenet_v3_coco`) end to end: real HTTP, Redis, BullMQ, a worker
 * process and tfjs. It trains, /predict serves it, and the browser recipe (tf.loadGraphModel over the model's
 * HTTP URL, then `predict`) gives the server's scores.
 */
import * as tf from '@tensorflow/tfjs'
import { json } from '../helpers/http.js'
import { makeZip, makeImageFolder } from '../helpers/archives.js'
import { makeImage, type ClassPattern } from '../helpers/images.js'
import { startTestService, startWorkerProcess, untilJob, type TestService, type WorkerProcess } from '../helpers/service.js'
import { initBackend } from '../../src/ml/backend.js'
import { decodeImage, toInputTensor } from '../../src/ml/image.js'

const CLASSES: ClassPattern[] = ['red-circle', 'blue-stripes', 'green-checker']
const PER_CLASS = 8

let service: TestService
let worker: WorkerProcess

beforeAll(async () => {
  service = await startTestService()
  worker = startWorkerProcess(service.config)
  await initBackend('wasm')
})

afterAll(async () => {
  await worker?.stop()
  await service?.close()
})

test('mobilenet_v3_coco job: trains, serves /predict, and loads in a browser as one GraphModel with the same scores', async () => {
  const files = await makeImageFolder(Object.fromEntries(CLASSES.map((c) => [c, PER_CLASS])), { size: 96, patterns: Object.fromEntries(CLASSES.map((c) => [c, c])) })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(files))]), 'shapes.zip')
  const upload = await json(await fetch(`${service.url}/datasets`, { method: 'POST', body: form }))
  expect(upload.status).toBe(201)

  const created = await json(
    await fetch(`${service.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ datasetId: upload.body.id, baseModel: 'mobilenet_v3_coco', epochs: 15, seed: 3 }),
    }),
  )
  expect(created.status).toBe(202)
  // About 15 s under moderate load; the margin is for a machine shared with other suites.
  const done = await untilJob(service.url, created.body.id, 'the mobilenet_v3_coco job to finish', { timeoutMs: 150_000 })
  expect(done.error).toBeUndefined()
  expect(done.baseModel).toBe('mobilenet_v3_coco')
  expect(done.result.metrics.accuracy).toBeGreaterThanOrEqual(0.8)
  const modelId: string = done.result.modelId

  const meta = await json(await fetch(`${service.url}/models/${modelId}`))
  expect(meta.body.base).toEqual({ id: 'mobilenet_v3_coco', inputSize: 320, preprocessing: 'raw_0_255', format: 'graph-model' })

  // Held-out images, several in one request.
  const heldOut = await Promise.all(CLASSES.map((c, i) => makeImage(c, { size: 110, seed: 7_000 + i, format: 'png' })))
  const body = new FormData()
  heldOut.forEach((bytes, i) => body.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), `${i}.png`))
  const served = await json(await fetch(`${service.url}/predict?model=${modelId}&topK=${CLASSES.length}`, { method: 'POST', body }))
  expect(served.status).toBe(200)
  expect(served.body.results.map((r: any) => r.predictions[0].label)).toEqual(CLASSES)

  // The browser recipe, in Node over real HTTP: one GraphModel, raw 0–255 pixels at 320 px, predict → probabilities.
  const model = await tf.loadGraphModel(`${service.url}/models/${modelId}/model.json`)
  try {
    const pixels = await Promise.all(heldOut.map((bytes) => decodeImage(bytes, 320, { maxPixels: 4_000_000 })))
    const probs = tf.tidy(() => (model.predict(toInputTensor(pixels, 320, 'raw_0_255')) as tf.Tensor).arraySync() as number[][])
    const labels: string[] = meta.body.labels
    served.body.results.forEach((result: any, i: number) => {
      for (const { label, score } of result.predictions) expect(Math.abs(probs[i]![labels.indexOf(label)]! - score)).toBeLessThan(1e-4)
    })
  } finally {
    model.dispose()
  }
})
