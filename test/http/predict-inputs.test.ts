/**
 * POST /predict in every input form (raw, multipart, JSON base64), topK and threshold, and each error code, against
 * the real API with its default prediction thread pool and micro-batching.
 */
import sharp from 'sharp'
import { startTestService, type TestService } from '../helpers/service.js'
import { bandsImage, saveTinyModel } from '../helpers/tiny-model.js'

const MODEL = 'tiny-0001'
const LABELS = ['red', 'green', 'blue', 'grey']
/** Small limits so the 413 cases need no big bodies. */
const MAX_IMAGE_BYTES = 20_000
const MAX_IMAGE_PIXELS = 100 * 100

let service: TestService
let images: Buffer[]

beforeAll(async () => {
  service = await startTestService({ MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES), MAX_IMAGE_PIXELS: String(MAX_IMAGE_PIXELS) })
  await saveTinyModel(service.config.DATA_DIR, MODEL, LABELS)
  images = await Promise.all([1, 2, 3].map((seed) => bandsImage(seed)))
})
afterAll(async () => {
  await service?.close()
})

async function post(query: string, body: BodyInit, contentType?: string) {
  const response = await fetch(`${service.url}/predict?${query}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body })
  return { status: response.status, body: (await response.json()) as any }
}
const form = (parts: Buffer[], field = 'image') => {
  const data = new FormData()
  parts.forEach((bytes, i) => data.append(field, new Blob([new Uint8Array(bytes)], { type: 'image/png' }), `${i}.png`))
  return data
}
const json = (base64: string[]) => JSON.stringify({ images: base64 })

test('raw, multipart and JSON bodies give the same scores, in order', async () => {
  const raw = await Promise.all(images.map((image) => post(`model=${MODEL}&topK=4`, new Uint8Array(image), 'image/png')))
  for (const answer of raw) {
    expect(answer.status).toBe(200)
    expect(answer.body.model).toBe(MODEL)
    expect(answer.body.predictions).toHaveLength(4)
    expect(typeof answer.body.latencyMs).toBe('number')
    expect(answer.body.predictions.reduce((s: number, p: any) => s + p.score, 0)).toBeCloseTo(1, 4)
  }
  // The three images must not score alike, or "in order" below would prove nothing.
  expect(raw[0]!.body.predictions[0].score).not.toBeCloseTo(raw[1]!.body.predictions[0].score, 4)

  const multipart = await post(`model=${MODEL}&topK=4`, form(images))
  const fromJson = await post(`model=${MODEL}&topK=4`, json(images.map((b) => b.toString('base64'))), 'application/json')
  for (const batch of [multipart, fromJson]) {
    expect(batch.status).toBe(200)
    expect(batch.body.results).toHaveLength(3)
    batch.body.results.forEach((result: any, i: number) => {
      const single = raw[i]!.body.predictions
      expect(result.predictions.map((p: any) => p.label)).toEqual(single.map((p: any) => p.label))
      result.predictions.forEach((p: any, j: number) => expect(p.score).toBeCloseTo(single[j].score, 5))
    })
  }
})

test('topK and threshold trim the predictions', async () => {
  const all = await post(`model=${MODEL}&topK=4`, new Uint8Array(images[0]!), 'image/png')
  const scores: number[] = all.body.predictions.map((p: any) => p.score)
  const top1 = await post(`model=${MODEL}&topK=1`, new Uint8Array(images[0]!), 'image/png')
  expect(top1.body.predictions).toEqual([all.body.predictions[0]])
  // A threshold between the second and third score keeps exactly two.
  const cut = (scores[1]! + scores[2]!) / 2
  const trimmed = await post(`model=${MODEL}&topK=4&threshold=${cut}`, new Uint8Array(images[0]!), 'image/png')
  expect(trimmed.status).toBe(200)
  expect(trimmed.body.predictions).toEqual(all.body.predictions.slice(0, 2))
  expect((await post(`model=${MODEL}&threshold=1.5`, new Uint8Array(images[0]!), 'image/png')).status).toBe(400)
})

test('an unknown model is 404 in every form', async () => {
  const missing = 'model=00000000-0000-4000-8000-000000000000'
  for (const answer of [
    await post(missing, new Uint8Array(images[0]!), 'image/png'),
    await post(missing, form([images[0]!])),
    await post(missing, json([images[0]!.toString('base64')]), 'application/json'),
  ]) {
    expect(answer.status).toBe(404)
    expect(answer.body.error.code).toBe('MODEL_NOT_FOUND')
  }
})

test('undecodable bytes are 400 IMAGE_INVALID; bad JSON bodies are 400 VALIDATION', async () => {
  const bogus = await post(`model=${MODEL}`, json([images[0]!.toString('base64'), Buffer.from('not an image').toString('base64')]), 'application/json')
  expect(bogus.status).toBe(400)
  expect(bogus.body.error.code).toBe('IMAGE_INVALID')
  expect((await post(`model=${MODEL}`, form([Buffer.from('GIF89a broken')]))).body.error.code).toBe('IMAGE_INVALID')
  for (const body of ['{"images":["not base64!"]}', '{"images":[]}', '{"images":["aGk="],"extra":1}', '{"image":"aGk="}']) {
    const answer = await post(`model=${MODEL}`, body, 'application/json')
    expect(answer.status).toBe(400)
    expect(answer.body.error.code).toBe('VALIDATION')
  }
})

test('an SVG or a non-image body is 415', async () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
  for (const answer of [await post(`model=${MODEL}`, svg, 'image/svg+xml'), await post(`model=${MODEL}`, 'hello', 'text/plain')]) {
    expect(answer.status).toBe(415)
    expect(answer.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
  }
})

test('too many bytes is 413 PAYLOAD_TOO_LARGE in every form; too many pixels is 413 IMAGE_TOO_LARGE', async () => {
  const noise = Buffer.from(Array.from({ length: 160 * 160 * 3 }, (_, i) => (i * 7919) % 251))
  const big = await sharp(noise, { raw: { width: 160, height: 160, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer()
  expect(big.length).toBeGreaterThan(MAX_IMAGE_BYTES)
  for (const answer of [
    await post(`model=${MODEL}`, new Uint8Array(big), 'image/png'),
    await post(`model=${MODEL}`, form([big])),
    await post(`model=${MODEL}`, json([big.toString('base64')]), 'application/json'),
  ]) {
    expect(answer.status).toBe(413)
    expect(answer.body.error.code).toBe('PAYLOAD_TOO_LARGE')
  }
  // 200 × 200 of one colour: tiny as PNG, but 40,000 pixels.
  const wide = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080' } }).png().toBuffer()
  expect(wide.length).toBeLessThan(MAX_IMAGE_BYTES)
  const answer = await post(`model=${MODEL}`, new Uint8Array(wide), 'image/png')
  expect(answer.status).toBe(413)
  expect(answer.body.error.code).toBe('IMAGE_TOO_LARGE')
})
