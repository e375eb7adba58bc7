/**
 * The vertical slice end to end: real HTTP, real Redis and BullMQ, a real worker process, real tfjs training on
 * the bundled MobileNetV2, then predictions on images the model never saw.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { json } from '../helpers/http.js'
import { makeZip, makeImageFolder } from '../helpers/archives.js'
import { makeImage, type ClassPattern } from '../helpers/images.js'
import { startTestService, startWorkerProcess, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'

const CLASSES: ClassPattern[] = ['red-circle', 'blue-stripes', 'green-checker']
const TRAIN_PER_CLASS = 20
const HELD_OUT_PER_CLASS = 4

let service: TestService
let worker: WorkerProcess

beforeAll(async () => {
  // The image server below listens on loopback, which GET /predict?url= refuses unless allow-listed.
  service = await startTestService({ PREDICT_URL_ALLOWLIST: '127.0.0.1' })
  worker = startWorkerProcess(service.config)
})

afterAll(async () => {
  await worker?.stop()
  await service?.close()
})

test('upload → train → poll → predict held-out images', async () => {
  const files = await makeImageFolder(Object.fromEntries(CLASSES.map((c) => [c, TRAIN_PER_CLASS])), { size: 96, patterns: Object.fromEntries(CLASSES.map((c) => [c, c])) })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(files))]), 'shapes.zip')
  const upload = await json(await fetch(`${service.url}/datasets`, { method: 'POST', body: form }))
  expect(upload.status).toBe(201)
  expect(upload.body.classes).toEqual([...CLASSES].sort().map((name) => ({ name, count: TRAIN_PER_CLASS })))
  expect(upload.headers.get('location')).toBe(`/datasets/${upload.body.id}`)

  const created = await json(
    await fetch(`${service.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Pinned: this is the MobileNetV2 slice, whatever the default base becomes.
      body: JSON.stringify({ datasetId: upload.body.id, baseModel: 'mobilenet_v2', epochs: 20, seed: 7 }),
    }),
  )
  expect(created.status).toBe(202)
  // The worker is already waiting, so it may have taken the job before the answer is written.
  expect(['queued', 'active']).toContain(created.body.status)

  const seen = new Set<string>()
  const done = await waitFor(
    async () => {
      const job = await json(await fetch(`${service.url}/jobs/${created.body.id}`))
      seen.add(job.body.status)
      return job.body.status === 'completed' || job.body.status === 'failed' ? job.body : undefined
    },
    240_000,
    'the training job to finish',
  )
  expect(done.error).toBeUndefined()
  expect(done.status).toBe('completed')
  expect(seen.has('active') || seen.has('queued')).toBe(true)
  expect(done.history).toHaveLength(20)
  expect(done.result.valCount).toBe(CLASSES.length * TRAIN_PER_CLASS * 0.2)
  expect(done.result.metrics.accuracy).toBeGreaterThanOrEqual(0.9)
  const modelId: string = done.result.modelId

  const model = await json(await fetch(`${service.url}/models/${modelId}`))
  expect(model.body.labels).toEqual([...CLASSES].sort())

  // The first prediction loads the model (its weights stay cached); from then on the tensor count must not move.
  const warmUp = await fetch(`${service.url}/predict?model=${modelId}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(await makeImage('red-circle', { seed: 999 })) })
  expect(warmUp.status).toBe(200)
  // Predictions run on the API's prediction threads: count the tensors there.
  const liveTensors = async () => (await service.app.predictor.tensorCounts()).reduce((a, b) => a + b, 0)
  const tensorsBefore = await liveTensors()
  expect(tensorsBefore).toBeGreaterThan(0)

  // Images generated with seeds the training set never used.
  let correct = 0
  let total = 0
  for (const label of CLASSES) {
    for (let i = 0; i < HELD_OUT_PER_CLASS; i++) {
      const image = await makeImage(label, { size: 120, seed: 10_000 + i, format: i % 2 ? 'jpeg' : 'png' })
      const answer = await json(
        await fetch(`${service.url}/predict?model=${modelId}&topK=2`, { method: 'POST', headers: { 'content-type': i % 2 ? 'image/jpeg' : 'image/png' }, body: new Uint8Array(image) }),
      )
      expect(answer.status).toBe(200)
      expect(answer.body.predictions).toHaveLength(2)
      expect(answer.body.predictions[0].score).toBeGreaterThanOrEqual(answer.body.predictions[1].score)
      total += 1
      if (answer.body.predictions[0].label === label) correct += 1
    }
  }
  expect(correct / total).toBeGreaterThanOrEqual(0.9)
  expect(await liveTensors()).toBe(tensorsBefore)

  // Bytes that claim to be a PNG but are not one.
  const bogus = await fetch(`${service.url}/predict?model=${modelId}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'not a png at all' })
  expect(bogus.status).toBe(400)
  expect(((await bogus.json()) as any).error.code).toBe('IMAGE_INVALID')

  // GET /predict fetches the image from a URL.
  const picture = await makeImage('blue-stripes', { size: 100, seed: 555, format: 'png' })
  const images: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(picture))
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve))
  try {
    const { port } = images.address() as AddressInfo
    const byUrl = await json(await fetch(`${service.url}/predict?model=${modelId}&url=${encodeURIComponent(`http://127.0.0.1:${port}/x.png`)}`))
    expect(byUrl.status).toBe(200)
    expect(byUrl.body.predictions[0].label).toBe('blue-stripes')
    expect(byUrl.body.predictions).toHaveLength(3)
  } finally {
    images.close()
  }
})
