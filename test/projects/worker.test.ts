/**
 * A training job of a project other than `default`, run by a real worker process (the built one): it reads the
 * project's dataset and uploaded base, caches features and checkpoints under the project's prefix, publishes the
 * model there, and cleans up there. Only the project's keys see the model.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { callJson, type JsonResponse } from '../helpers/http.js'
import { startTestService, startWorkerProcess, untilJob, type TestService } from '../helpers/service.js'
import { writeTinyBase } from '../helpers/tiny-base.js'
import { expectError, predictRaw, uploadDataset } from '../hostile/support.js'

const SIZE = 32
const ADMIN = `admin-${randomUUID()}`
const LEGACY = `legacy-${randomUUID()}`
let service: TestService

const call = (method: string, url: string, key: string, body?: unknown): Promise<JsonResponse> => callJson(service.url, method, url, key, body)

beforeAll(async () => {
  service = await startTestService({ API_KEYS: `${hashApiKey(ADMIN)}:admin,${hashApiKey(LEGACY)}:train+predict` })
})
afterAll(async () => {
  await service?.close()
})

test('a job of project P trains on P\'s dataset and base, and everything it writes is under projects/<P>/', async () => {
  const projectId = (await call('POST', '/projects', ADMIN, { name: 'p' })).body.id as string
  const key = (await call('POST', `/projects/${projectId}/keys`, ADMIN, { scopes: ['train', 'predict'] })).body.key as string
  const under = (...parts: string[]) => path.join(service.config.DATA_DIR, 'projects', projectId, ...parts)

  const baseDir = path.join(service.config.DATA_DIR, 'tiny-layers')
  await writeTinyBase(baseDir, { size: SIZE, headUnits: 4 })
  const form = new FormData()
  form.append('name', 'tiny')
  form.append('file', new Blob([new Uint8Array(await makeZip(await Promise.all((await readdir(baseDir)).map(async (name) => ({ path: name, data: await readFile(path.join(baseDir, name)) })))))]), 'model.zip')
  expect((await fetch(`${service.url}/bases`, { method: 'POST', body: form, headers: { authorization: `Bearer ${key}` } })).status).toBe(201)
  const dataset = await uploadDataset(service, await makeZip(await makeImageFolder({ circle: 6, stripes: 6 }, { size: 40 })), 'set.zip', { authorization: `Bearer ${key}` })
  expect(dataset.status).toBe(201)
  const job = await call('POST', '/jobs', key, { datasetId: dataset.body.id, baseModel: 'tiny', epochs: 2, seed: 1 })
  expect(job.status).toBe(202)

  const worker = startWorkerProcess(service.config)
  let done: { status: string; error?: unknown; result: { modelId: string } }
  try {
    done = await untilJob(service.url, job.body.id, "the project's job", { timeoutMs: 90_000, key: key })
  } finally {
    await worker.stop()
  }
  expect(done.error).toBeUndefined()
  const modelId = done.result.modelId

  // Written under the project: the model, the features (none at the root); the job's checkpoint folder is gone.
  expect(existsSync(under('models', modelId, 'model.json'))).toBe(true)
  expect(existsSync(path.join(service.config.DATA_DIR, 'models', modelId))).toBe(false)
  expect((await readdir(under('cache', 'features'))).length).toBeGreaterThan(0)
  expect(existsSync(path.join(service.config.DATA_DIR, 'cache', 'features'))).toBe(false)
  expect(existsSync(under('jobs', job.body.id))).toBe(false)

  const image = await makeImage('red-circle', { size: 40 })
  expect((await predictRaw(service, modelId, image, 'image/png', { authorization: `Bearer ${key}` })).status).toBe(200)
  // The default project (a legacy key) sees neither the job nor the model.
  expectError(await predictRaw(service, modelId, image, 'image/png', { authorization: `Bearer ${LEGACY}` }), 404, 'MODEL_NOT_FOUND')
  expectError(await call('GET', `/jobs/${job.body.id}`, LEGACY), 404, 'JOB_NOT_FOUND')
  expect((await call('GET', '/models', LEGACY)).body.models).toEqual([])
}, 150_000)
