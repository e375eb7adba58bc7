/**
 * Scale-out: API 1, a standalone worker and API 2, each with its own empty DATA_DIR, sharing only Redis and an
 * S3 bucket (s3rver). Upload through API 1, train on the worker, list and predict through API 2; an alias moved
 * through API 1 is served by API 2 within 1 s; then a worker killed with SIGKILL mid-job is replaced by another
 * that resumes from the checkpoint in the bucket, and exactly one model is registered. A revision made on API 1 and a
 * base uploaded there train on the worker, which fetches the base from the bucket into its own DATA_DIR.
 */
import { randomUUID } from 'node:crypto'
import { readdir, readFile, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { startTestS3, type TestS3 } from '../helpers/s3.js'
import { startTestService, startWorkerProcess, testConfig, jobEnded, untilJob as untilJobAt, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'
import { writeTinyBase } from '../helpers/tiny-base.js'

/** Batch size 1 over a dozen images: long enough to kill the worker mid-training. */
const LONG_JOB = { epochs: 30, batchSize: 1, seed: 5 }
/** The bound on alias propagation between replicas, ms. */
const ALIAS_BOUND_MS = 1_000

let s3: TestS3
let api1: TestService
let api2: TestService
const workers: WorkerProcess[] = []
const dataDirs: string[] = []

beforeAll(async () => {
  s3 = await startTestS3()
  const shared = { STORAGE_URL: s3.storageUrl(), QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`, TRAIN_LOCK_MS: '5000', PREDICT_THREADS: '1' }
  api1 = await startTestService(shared)
  api2 = await startTestService(shared)
})

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')))
  await api1?.close()
  await api2?.close()
  await s3?.close()
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

/** A worker process with a DATA_DIR of its own (api1's config otherwise: same Redis prefix, same bucket). */
async function startWorker(name: string) {
  const own = await testConfig({ STORAGE_URL: api1.config.STORAGE_URL, QUEUE_PREFIX: api1.config.QUEUE_PREFIX, TRAIN_LOCK_MS: '5000' })
  dataDirs.push(own.DATA_DIR)
  const worker = startWorkerProcess(own, name)
  workers.push(worker)
  return Object.assign(worker, { name: `${hostname()}:${worker.child.pid}`, dataDir: own.DATA_DIR })
}

const json = async (url: string, init?: RequestInit): Promise<any> => {
  const response = await fetch(url, init)
  return { status: response.status, body: await response.json() }
}
const postJob = (datasetId: string, body: Record<string, unknown>) =>
  json(`${api1.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, ...body }) })
const untilJob = (api: TestService, id: string, what: string, ok: (doc: any) => boolean, timeoutMs?: number) => untilJobAt(api.url, id, what, { ok, ...(timeoutMs && { timeoutMs }) })

test('upload on API 1, train on a standalone worker, list and predict on API 2; an alias moved on 1 is served by 2 within 1 s; SIGKILL mid-job resumes from the bucket', async () => {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ 'red-circle': 6, 'blue-stripes': 6 }, { size: 48 })))]), 'small.zip')
  const upload = await json(`${api1.url}/datasets`, { method: 'POST', body: form })
  expect(upload.status).toBe(201)
  const datasetId: string = upload.body.id
  // Nothing but the bucket holds it: API 2 sees it, and neither API's DATA_DIR has a datasets folder.
  expect((await json(`${api2.url}/datasets/${datasetId}`)).body.imageCount).toBe(12)
  expect(await readdir(api1.config.DATA_DIR)).not.toContain('datasets')

  const worker = await startWorker('scale-worker')
  const job = await postJob(datasetId, { epochs: 3, seed: 1 })
  expect(job.status).toBe(202)
  const done = await untilJob(api2, job.body.id, 'the job to finish on the worker', jobEnded, 90_000)
  expect(done).toMatchObject({ status: 'completed', worker: worker.name })
  const modelId: string = done.result.modelId
  // The worker fetched each image once into its own cache, by content hash.
  const fetched = await readdir(path.join(worker.dataDir, 'cache', 'images'), { recursive: true, withFileTypes: true })
  const names = fetched.filter((entry) => entry.isFile()).map((entry) => entry.name)
  expect(names).toHaveLength(12)
  expect(names.every((name) => /^[0-9a-f]{64}$/.test(name))).toBe(true)

  expect((await json(`${api2.url}/models`)).body.models.map((m: any) => m.id)).toEqual([modelId])
  const image = await makeImage('red-circle', { size: 48, seed: 99 })
  const predicted = await json(`${api2.url}/predict?model=${modelId}&topK=2`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) })
  expect(predicted.body.error).toBeUndefined()
  expect(predicted.status).toBe(200)
  expect(predicted.body.predictions).toHaveLength(2)
  const served = await fetch(`${api2.url}/models/${modelId}/model.json`)
  expect(served.status).toBe(200)
  expect(((await served.json()) as any).weightsManifest[0].paths).toEqual(['weights.bin'])

  // A revision (one image moved to the other class) and an uploaded base, both made on API 1, train on the worker.
  // The gallery lists from the bucket too.
  const gallery = await json(`${api2.url}/datasets/${datasetId}/images?class=red-circle&limit=1`)
  expect(gallery.body.items).toHaveLength(1)
  const moved: string = gallery.body.items[0].path
  const revision = await json(`${api1.url}/datasets/${datasetId}/revisions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ move: [{ path: moved, to: 'blue-stripes' }] }),
  })
  expect(revision.status).toBe(201)
  expect((await json(`${api2.url}/datasets/${revision.body.id}`)).body).toMatchObject({ parentId: datasetId, classes: [{ name: 'blue-stripes', count: 7 }, { name: 'red-circle', count: 5 }] })
  const tiny = await writeTinyBase(path.join(worker.dataDir, '..', `tiny-${randomUUID().slice(0, 8)}`), { size: 32, headUnits: 4 })
  dataDirs.push(path.dirname(tiny))
  const baseForm = new FormData()
  baseForm.append('name', 'tiny')
  const tinyFiles = await Promise.all((await readdir(path.dirname(tiny))).map(async (name) => ({ path: name, data: await readFile(path.join(path.dirname(tiny), name)) })))
  baseForm.append('file', new Blob([new Uint8Array(await makeZip(tinyFiles))]), 'tiny.zip')
  expect((await json(`${api1.url}/bases`, { method: 'POST', body: baseForm })).status).toBe(201)
  expect(await readdir(path.join(worker.dataDir, 'bases')).catch(() => [])).not.toContain('uploaded')
  const onBase = await postJob(revision.body.id, { baseModel: 'tiny', epochs: 2, seed: 1 })
  expect(onBase.status).toBe(202)
  const trained = await untilJob(api2, onBase.body.id, 'the job on the uploaded base', jobEnded, 60_000)
  expect(trained.error).toBeUndefined()
  expect(trained).toMatchObject({ status: 'completed', worker: worker.name })
  expect(await readdir(path.join(worker.dataDir, 'bases', 'uploaded', 'tiny'))).toEqual([expect.stringMatching(/^model-[0-9a-f]{16}$/)])
  expect((await json(`${api2.url}/models/${trained.result.modelId}`)).body).toMatchObject({ datasetId: revision.body.id, base: { inputSize: 32 } })

  // Alias propagation: point `prod` at the model on API 1, then time until API 2 answers with it.
  const put = (target: string) => json(`${api1.url}/models/aliases/prod`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ modelId: target }) })
  expect((await put(modelId)).status).toBe(200)
  const viaAlias = await json(`${api2.url}/predict?model=prod`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) })
  expect(viaAlias.body.model).toBe(modelId)

  // SIGKILL mid-training: the second worker, with its own empty DATA_DIR, resumes from the bucket's checkpoint.
  const long = await postJob(datasetId, LONG_JOB)
  await untilJob(api1, long.body.id, 'training past epoch 3', (d) => d.worker === worker.name && d.progress.epoch >= 3)
  const rescue = await startWorker('rescue-worker')
  expect(await worker.stop('SIGKILL')).toBeNull()
  const finished = await untilJob(api2, long.body.id, 'the job to finish on the rescue worker', jobEnded, 90_000)
  expect(finished.error).toBeUndefined()
  expect(finished).toMatchObject({ status: 'completed', worker: rescue.name })
  expect(finished.progress.resumedFromEpoch).toBeGreaterThanOrEqual(3)
  // The rescue worker's DATA_DIR started empty: every feature came from the shared cache the first worker filled.
  expect(finished.result.featureCache).toEqual({ hits: 12, misses: 0 })
  const models = (await json(`${api2.url}/models`)).body.models
  expect(models.filter((m: any) => m.jobId === long.body.id)).toHaveLength(1)
  expect(models).toHaveLength(3)

  // Move `prod` to the new model through API 1; API 2 must serve it within the bound.
  const newId: string = finished.result.modelId
  expect((await put(newId)).status).toBe(200)
  const movedAt = Date.now()
  const seen = await waitFor(async () => {
    const r = await json(`${api2.url}/models/aliases/prod`)
    return r.body.modelId === newId ? Date.now() - movedAt : undefined
  }, 5_000, 'API 2 to see the moved alias')
  const answer = await json(`${api2.url}/predict?model=prod`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) })
  expect(answer.body.model).toBe(newId)
  expect(seen).toBeLessThanOrEqual(ALIAS_BOUND_MS)
}, 240_000)
