/**
 * Bring-your-own base: POST /bases validates and stores a tfjs model archive, GET /bases lists it, a job trains on
 * it by name, DELETE /bases/:name refuses while a job needs it. The tiny LayersModel is built here.
 */
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { makeImageFolder, makeZip, type ArchiveFile } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, untilJob, type TestService } from '../helpers/service.js'
import { tinyGraphModel } from '../helpers/tiny-graph.js'
import { writeTinyBase } from '../helpers/tiny-base.js'
import { json, type JsonResponse } from '../helpers/http.js'
import { expectError, uploadDataset } from '../hostile/support.js'

const SIZE = 32
let service: TestService
let modelFiles: ArchiveFile[]

beforeAll(async () => {
  service = await startTestService()
  const dir = path.join(service.config.DATA_DIR, 'tiny-layers')
  await writeTinyBase(dir, { size: SIZE, headUnits: 4 })
  modelFiles = await Promise.all((await readdir(dir)).map(async (name) => ({ path: name, data: await readFile(path.join(dir, name)) })))
})

afterAll(async () => {
  await service.close()
})

async function upload(fields: Record<string, string>, archive: Buffer | Uint8Array): Promise<JsonResponse> {
  const form = new FormData()
  for (const [key, value] of Object.entries(fields)) form.append(key, value)
  form.append('file', new Blob([new Uint8Array(archive)]), 'model.zip')
  return json(await fetch(`${service.url}/bases`, { method: 'POST', body: form }))
}

const postJob = async (body: unknown) =>
  json(await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))

describe('POST /bases', () => {
  it('stores a LayersModel cut at its pooling layer, with or without a wrapping folder, and lists it', async () => {
    const created = await upload({ name: 'tiny' }, await makeZip(modelFiles))
    expect(created.status).toBe(201)
    expect(created.body).toEqual({ name: 'tiny', kind: 'layers', inputSize: SIZE, featureLayer: 'pool', featureSize: 16, preprocessing: 'scale_0_1', createdAt: expect.any(String), bytes: expect.any(Number) })
    const wrapped = await upload({ name: 'tiny-conv', featureLayer: 'conv2', preprocessing: 'scale_-1_1' }, await makeZip(modelFiles.map((f) => ({ ...f, path: `export/${f.path}` }))))
    expect(wrapped.status).toBe(201)
    // A 4-D cut is mean-pooled: conv2 has 16 channels.
    expect(wrapped.body).toMatchObject({ featureLayer: 'conv2', featureSize: 16, preprocessing: 'scale_-1_1' })

    const listed = await json(await fetch(`${service.url}/bases`))
    expect(listed.body.builtin).toEqual(expect.arrayContaining(['mobilenet_v2', 'inception_v3', 'mobilenet_v3_coco']))
    expect(listed.body.uploaded.map((b: { name: string }) => b.name)).toEqual(['tiny', 'tiny-conv'])
    expectError(await upload({ name: 'tiny' }, await makeZip(modelFiles)), 409, 'BASE_EXISTS')
  })

  it('stores a GraphModel cut at a named node, mean-pooled; refuses one without its node or input size', async () => {
    const graph = await makeZip(tinyGraphModel(SIZE))
    expect((await expectError(await upload({ name: 'g1' }, graph), 422, 'BASE_MODEL_INVALID')).message).toMatch(/featureLayer/)
    expectError(await upload({ name: 'g2', featureLayer: 'nope', inputSize: String(SIZE) }, graph), 422, 'BASE_MODEL_INVALID')
    const created = await upload({ name: 'tiny-graph', featureLayer: 'relu', inputSize: String(SIZE) }, graph)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'tiny-graph', kind: 'graph', inputSize: SIZE, featureLayer: 'relu', featureSize: 8 })
  })

  it('refuses bad archives and models with codes and reasons, storing nothing', async () => {
    const modelJson = JSON.parse(String(modelFiles.find((f) => f.path === 'model.json')!.data))
    const weights = modelFiles.filter((f) => f.path !== 'model.json')
    expectError(await upload({ name: 'x1' }, Buffer.from('not an archive at all')), 400, 'ARCHIVE_INVALID')
    expect((await expectError(await upload({ name: 'x2' }, await makeZip(weights)), 422, 'BASE_MODEL_INVALID')).message).toMatch(/no model\.json/)
    expect((await expectError(await upload({ name: 'x3' }, await makeZip([{ path: 'model.json', data: JSON.stringify(modelJson) }])), 422, 'BASE_MODEL_INVALID')).message).toMatch(/lacks: weights\.bin/)
    expect((await expectError(await upload({ name: 'x4' }, await makeZip([{ path: 'model.json', data: '{"not": "a model"' }, ...weights])), 422, 'BASE_MODEL_INVALID')).message).toMatch(/not JSON/)
    expect((await expectError(await upload({ name: 'x5', featureLayer: 'nope' }, await makeZip(modelFiles)), 422, 'BASE_MODEL_INVALID')).message).toMatch(/no layer 'nope'/)
    const truncated = [{ path: 'model.json', data: JSON.stringify(modelJson) }, { path: 'weights.bin', data: Buffer.alloc(10) }]
    expectError(await upload({ name: 'x6' }, await makeZip(truncated)), 422, 'BASE_MODEL_INVALID')
    expectError(await upload({ name: 'x7' }, await makeZip(modelFiles.map((f, i) => ({ ...f, path: `${i}/${f.path}` })))), 400, 'ARCHIVE_INVALID')
    expectError(await upload({ name: 'x8' }, await makeZip([...modelFiles, { path: '../evil', data: 'x' }])), 400, 'ARCHIVE_INVALID')
    expectError(await upload({ name: 'Bad Name' }, await makeZip(modelFiles)), 400, 'VALIDATION')
    expectError(await upload({ name: 'mobilenet_v2' }, await makeZip(modelFiles)), 400, 'VALIDATION')
    expectError(await upload({ name: 'x9', inputSize: 'big' }, await makeZip(modelFiles)), 400, 'VALIDATION')
    const listed = await json(await fetch(`${service.url}/bases`))
    expect(listed.body.uploaded.map((b: { name: string }) => b.name)).toEqual(['tiny', 'tiny-conv', 'tiny-graph'])
  })
})

describe('an uploaded base in a job', () => {
  it('trains by name; DELETE is 409 while the job waits and 204 after; a deleted name is 404 for new jobs', async () => {
    const dataset = await uploadDataset(service, await makeZip(await makeImageFolder({ circle: 6, stripes: 6 }, { size: 40 })))
    expect(dataset.status).toBe(201)
    // No worker yet: the job waits, holding the base.
    const job = await postJob({ datasetId: dataset.body.id, baseModel: 'tiny', epochs: 3, seed: 1 })
    expect(job.status).toBe(202)
    expect(job.body.baseModel).toBe('tiny')
    expectError(await json(await fetch(`${service.url}/bases/tiny`, { method: 'DELETE' })), 409, 'BASE_IN_USE')

    const finished = (id: string) =>
      untilJob(service.url, id, 'the job on an uploaded base', { timeoutMs: 90_000 })
    const worker = startWorkerProcess(service.config)
    try {
      const done = await finished(job.body.id)
      expect(done.error).toBeUndefined()
      const model = await json(await fetch(`${service.url}/models/${done.result.modelId}`))
      expect(model.body.base).toMatchObject({ inputSize: SIZE, preprocessing: 'scale_0_1' })
      expect(model.body.params.baseModel).toBe('tiny')

      // An uploaded GraphModel trains head-only, and its classifier is one GraphModel.
      expectError(await postJob({ datasetId: dataset.body.id, baseModel: 'tiny-graph', fineTuneLayers: 1 }), 400, 'OPTIONS_INVALID')
      const graphJob = await postJob({ datasetId: dataset.body.id, baseModel: 'tiny-graph', epochs: 3, seed: 1 })
      expect(graphJob.status).toBe(202)
      const graphDone = await finished(graphJob.body.id)
      expect(graphDone.error).toBeUndefined()
      const graphModel = await json(await fetch(`${service.url}/models/${graphDone.result.modelId}`))
      expect(graphModel.body.base).toMatchObject({ inputSize: SIZE, format: 'graph-model' })
    } finally {
      await worker.stop()
    }
    expect((await fetch(`${service.url}/bases/tiny`, { method: 'DELETE' })).status).toBe(204)
    expectError(await json(await fetch(`${service.url}/bases/tiny`, { method: 'DELETE' })), 404, 'BASE_NOT_FOUND')
    expectError(await postJob({ datasetId: dataset.body.id, baseModel: 'tiny' }), 404, 'BASE_NOT_FOUND')
  })
})
