/**
 * Hostile requests (bodies, ids, images, timing) against the real HTTP server: each gets its status and code,
 * and the service still answers /healthz and a normal prediction afterwards.
 */
import { randomUUID } from 'node:crypto'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { makeImage } from '../helpers/images.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { json, type JsonResponse } from '../helpers/http.js'
import { expectAlive, expectError, pngBomb, predictRaw, storeTinyModel, TINY_MODEL, uploadDataset, validZip } from './support.js'

const MAX_JSON_BYTES = 4096
const NOT_AN_ID = '../../etc/passwd'

let service: TestService
let datasetId: string

beforeAll(async () => {
  service = await startTestService({ MAX_JSON_BYTES: String(MAX_JSON_BYTES), MAX_IMAGE_PIXELS: '1000000' })
  await storeTinyModel(service)
  const uploaded = await uploadDataset(service, await validZip())
  expect(uploaded.status).toBe(201)
  datasetId = uploaded.body.id
})
afterAll(async () => {
  await service?.close()
})
afterEach(async () => {
  await expectAlive(service)
})

async function postJob(body: string, contentType = 'application/json'): Promise<JsonResponse> {
  return json(await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': contentType }, body }))
}

describe('job bodies', () => {
  test('malformed JSON is 400 VALIDATION', async () => {
    for (const body of ['{"datasetId":', '{datasetId: 1}', '[]', 'null', '{"__proto__": {"x": 1}}']) {
      const response = await postJob(body)
      expect(response.status).toBe(400)
      expect(response.body.error.code).toBe('VALIDATION')
    }
  })

  test('JSON over MAX_JSON_BYTES is 413 with the limit named', async () => {
    const body = JSON.stringify({ datasetId, padding: 'x'.repeat(MAX_JSON_BYTES * 4) })
    const error = expectError(await postJob(body), 413, 'PAYLOAD_TOO_LARGE')
    expect(error.details).toEqual({ limit: 'MAX_JSON_BYTES', max: MAX_JSON_BYTES })
  })

  test('a job sent as text or form data is 415', async () => {
    expectError(await postJob(JSON.stringify({ datasetId }), 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE')
    expectError(await postJob(`datasetId=${datasetId}`, 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE')
  })

  test('unknown fields are 400 and name the field', async () => {
    const error = expectError(await postJob(JSON.stringify({ datasetId, epochz: 3 })), 400, 'VALIDATION')
    expect(JSON.stringify(error)).toMatch(/additional/i)
    expectError(await postJob(JSON.stringify({ datasetId, baseModel: { url: 'http://x/model.json', extra: 1 } })), 400, 'VALIDATION')
  })

  test.each([
    { epochs: 0 },
    { epochs: 501 },
    { epochs: 1.5 },
    { epochs: '10; rm -rf /' },
    { batchSize: 0 },
    { batchSize: 100_000 },
    { learningRate: 0 },
    { learningRate: -0.1 },
    { learningRate: 5 },
    { validationSplit: 0.9 },
    { validationSplit: 0 },
    { seed: -1 },
    { baseModel: 'ResNet 9000!' },
    { baseModel: { url: '' } },
    { baseModel: { url: 'http://x/m.json', inputSize: 100_000 } },
  ])('out of range %j is 400 VALIDATION', async (bad) => {
    expectError(await postJob(JSON.stringify({ datasetId, ...bad })), 400, 'VALIDATION')
  })

  test('a base name nobody uploaded is 404 BASE_NOT_FOUND, as an unknown dataset is', async () => {
    expectError(await postJob(JSON.stringify({ datasetId, baseModel: 'resnet_9000' })), 404, 'BASE_NOT_FOUND')
  })

  test('a datasetId that is not an id is 400; an unknown one 404', async () => {
    expectError(await postJob(JSON.stringify({ datasetId: NOT_AN_ID })), 400, 'VALIDATION')
    expectError(await postJob(JSON.stringify({ datasetId: '00000000-0000-4000-8000-000000000000' })), 404, 'DATASET_NOT_FOUND')
  })
})

describe('ids that are not ids', () => {
  test('every route with a path parameter refuses ../../etc/passwd (URL-encoded) with 400', async () => {
    const spec = service.app.swagger() as { paths: Record<string, Record<string, { tags?: string[] }>> }
    const templated = Object.entries(spec.paths).filter(([route]) => route.includes('{'))
    expect(templated.flatMap(([, methods]) => Object.keys(methods)).length).toBeGreaterThanOrEqual(7)
    // Administration does not exist in open mode (403 before any validation): those routes are asked of a service
    // with an admin key.
    const adminKey = `admin-${randomUUID()}`
    const admin = await startTestService({ API_KEYS: `${hashApiKey(adminKey)}:admin` })
    for (const [route, methods] of templated) {
      for (const [method, operation] of Object.entries(methods)) {
        const target: { url: string; headers: Record<string, string> } = operation.tags?.includes('projects')
          ? { url: admin.url, headers: { authorization: `Bearer ${adminKey}` } }
          : { url: service.url, headers: {} }
        // One parameter at a time, the others valid, so each is shown to be checked on its own.
        const params = [...route.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)
        for (const bad of params) {
          const url = route.replace(/\{(\w+)\}/g, (_, name: string) =>
            name === bad ? encodeURIComponent(NOT_AN_ID) : name === 'file' ? 'weights.bin' : TINY_MODEL,
          )
          const response = await json(await fetch(`${target.url}${url}`, { method: method.toUpperCase(), headers: target.headers }))
          if (response.status !== 400 || response.body?.error?.code !== 'VALIDATION') {
            throw new Error(`${method.toUpperCase()} ${url}: ${response.status} ${JSON.stringify(response.body)}`)
          }
        }
      }
    }
    await admin.close()
    // The model survived the DELETE attempts.
    expect((await json(await fetch(`${service.url}/models/${TINY_MODEL}`))).status).toBe(200)
  })

  test('a model query that is not an id is 400, on both /predict routes', async () => {
    expectError(await predictRaw(service, NOT_AN_ID, await makeImage('red-circle')), 400, 'VALIDATION')
    const response = await json(await fetch(`${service.url}/predict?model=${encodeURIComponent(NOT_AN_ID)}&url=http%3A%2F%2Fexample.com%2Fa.png`))
    expectError(response, 400, 'VALIDATION')
  })
})

describe('prediction images', () => {
  test('a 50000×50000 PNG is 413 IMAGE_TOO_LARGE from its header', async () => {
    const error = expectError(await predictRaw(service, TINY_MODEL, pngBomb()), 413, 'IMAGE_TOO_LARGE')
    expect(error.details).toMatchObject({ width: 50_000, height: 50_000 })
  })

  test('truncated and corrupt JPEG/PNG, text named image/jpeg and an empty body are 400 IMAGE_INVALID', async () => {
    const png = await makeImage('red-circle', { size: 64 })
    const jpeg = await makeImage('red-circle', { size: 64, format: 'jpeg' })
    const corrupt = Buffer.from(png)
    corrupt.fill(0x41, 40, 300)
    const cases: [Buffer, string][] = [
      [png.subarray(0, png.length / 2), 'image/png'],
      [jpeg.subarray(0, jpeg.length / 2), 'image/jpeg'],
      [corrupt, 'image/png'],
      [Buffer.from('just some text, not a jpeg'), 'image/jpeg'],
      [Buffer.alloc(0), 'image/png'],
    ]
    for (const [bytes, type] of cases) expectError(await predictRaw(service, TINY_MODEL, bytes, type), 400, 'IMAGE_INVALID')
  })

  test('an image sent as text/plain is 415; JSON without the images array is 400', async () => {
    const png = await makeImage('red-circle')
    expectError(await predictRaw(service, TINY_MODEL, png, 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE')
    // JSON is a supported form ({"images": [base64…]}), so a wrong shape is a validation error, not a media type one.
    expectError(await predictRaw(service, TINY_MODEL, Buffer.from('{"image":"x"}'), 'application/json'), 400, 'VALIDATION')
  })

  test('unknown query fields are 400', async () => {
    const response = await json(
      await fetch(`${service.url}/predict?model=${TINY_MODEL}&debug=1`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(await makeImage('red-circle')) }),
    )
    expectError(response, 400, 'VALIDATION')
  })
})

describe('a model still training', () => {
  test('predicting with it is 409 MODEL_NOT_READY, naming its job; an unknown model stays 404', async () => {
    // No worker runs in this file, so the job stays queued.
    const job = await postJob(JSON.stringify({ datasetId, epochs: 1 }))
    expect(job.status).toBe(202)
    const error = expectError(await predictRaw(service, job.body.id, await makeImage('red-circle')), 409, 'MODEL_NOT_READY')
    expect(error.details).toMatchObject({ jobId: job.body.id, status: 'queued' })
    expectError(await predictRaw(service, '00000000-0000-4000-8000-000000000000', await makeImage('red-circle')), 404, 'MODEL_NOT_FOUND')
  })
})
