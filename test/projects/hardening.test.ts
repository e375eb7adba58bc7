/**
 * What an outsider tried against a keyed service with two projects (real HTTP, Redis and store): project names
 * that collide or cannot be read, a job whose base is another project's files by path, the open readiness probe
 * naming the store, a tampered audit cursor, and a job listing that walked (and handed out as a cursor) other
 * projects' jobs.
 */
import { randomUUID } from 'node:crypto'
import { readdir, readFile, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { trainOptions } from '../../src/contract/jobs.js'
import { callJson, json, type JsonResponse } from '../helpers/http.js'
import { startTestService, startWorkerProcess, untilJob, waitFor, type TestService } from '../helpers/service.js'
import { serveTinyBase, writeTinyBase } from '../helpers/tiny-base.js'
import { makeZip } from '../helpers/archives.js'
import { fetchUrlBase } from '../../src/services/bases.js'
import { baseId, loadBase } from '../../src/ml/bases.js'
import { expectError, uploadDataset, validZip } from '../hostile/support.js'

const ADMIN = `admin-${randomUUID()}`
let service: TestService
const projects = { a: '', b: '' }
const keys = { a: '', b: '' }

const call = (method: string, url: string, key: string | undefined, body?: unknown): Promise<JsonResponse> => callJson(service.url, method, url, key, body)

async function project(name: string): Promise<{ id: string; key: string }> {
  const created = await call('POST', '/projects', ADMIN, { name })
  expect(created.status).toBe(201)
  const key = await call('POST', `/projects/${created.body.id}/keys`, ADMIN, { scopes: ['train', 'predict'] })
  return { id: created.body.id, key: key.body.key }
}

beforeAll(async () => {
  service = await startTestService({ API_KEYS: `${hashApiKey(ADMIN)}:admin` })
  const a = await project('alpha')
  const b = await project('beta')
  Object.assign(projects, { a: a.id, b: b.id })
  Object.assign(keys, { a: a.key, b: b.key })
})
afterAll(async () => {
  await service?.close()
})

test('project names are unique without case or surrounding spaces, readable, and free again once the project is deleted', async () => {
  for (const name of ['alpha', 'ALPHA', '  Alpha ', 'default']) {
    const taken = expectError(await call('POST', '/projects', ADMIN, { name }), 409, 'PROJECT_EXISTS')
    expect(taken.details.id).toBe(name === 'default' ? 'default' : projects.a)
  }
  for (const name of ['   ', 'two\nlines', 'nul\u0000', 'bell\u0007']) expectError(await call('POST', '/projects', ADMIN, { name }), 400, 'VALIDATION')
  expectError(await call('POST', `/projects/${projects.a}/keys`, ADMIN, { scopes: ['train'], name: 'a\r\nb' }), 400, 'VALIDATION')
  expect((await call('POST', '/projects', ADMIN, { name: 'Ünïcode チーム' })).body.name).toBe('Ünïcode チーム')

  // Two replicas (or two clicks) creating the same name at once make one project.
  const raced = await Promise.all([1, 2, 3, 4].map(() => call('POST', '/projects', ADMIN, { name: 'raced' })))
  expect(raced.map((r) => r.status).sort()).toEqual([201, 409, 409, 409])

  const gone = await project('recycled')
  expect((await call('DELETE', `/projects/${gone.id}`, ADMIN)).status).toBe(204)
  const again = await call('POST', '/projects', ADMIN, { name: 'recycled' })
  expect(again.status).toBe(201)
  expect(again.body.id).not.toBe(gone.id)
  // The deleted project's key does not come back with its name.
  expectError(await call('GET', '/whoami', gone.key), 401, 'UNAUTHORIZED')
  const names = (await call('GET', '/projects', ADMIN)).body.projects.map((p: { name: string }) => p.name.toLowerCase())
  expect(names.length).toBe(new Set(names).size)
})

test("a job's base by file path or inside the network is refused with keys: another project's model files are on the same disk, and the worker's network is not the caller's", async () => {
  const dataset = await uploadDataset(service, await validZip(), 'set.zip', { authorization: `Bearer ${keys.b}` })
  expect(dataset.status).toBe(201)
  const foreign = path.join(service.config.DATA_DIR, 'projects', projects.a, 'models', randomUUID(), 'model.json')
  for (const url of [foreign, `file://${foreign}`, `FILE://${foreign}`, '../../etc/passwd', 'models/x/model.json']) {
    const refused = expectError(await call('POST', '/jobs', keys.b, { datasetId: dataset.body.id, baseModel: { url } }), 403, 'URL_FORBIDDEN')
    expect(refused.message).not.toContain(projects.a)
  }
  // The worker fetches an http(s) base: hosts inside its network are refused as a webhook's are.
  for (const url of ['http://127.0.0.1:6379/model.json', 'http://localhost/model.json', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/m.json', 'https://10.0.0.8/m.json']) {
    expectError(await call('POST', '/jobs', keys.b, { datasetId: dataset.body.id, baseModel: { url } }), 403, 'URL_FORBIDDEN')
  }
  expectError(await call('POST', '/jobs', keys.b, { datasetId: dataset.body.id, baseModel: { url: 'http://' } }), 400, 'VALIDATION')
  expect((await call('GET', '/jobs', keys.b)).body.jobs).toEqual([])
})

test("a worker fetches a keyed job's URL base through the SSRF guard: a name that resolves inside the network by the time the job runs (DNS rebinding) fails the job, and nothing is fetched", async () => {
  const gamma = await project('gamma')
  const served = await serveTinyBase(path.join(service.config.DATA_DIR, 'served-base'), { size: 32, headUnits: 4 })
  const dataset = await uploadDataset(service, await validZip(), 'set.zip', { authorization: `Bearer ${gamma.key}` })
  expect(dataset.status).toBe(201)
  // Queued as the API queues a job whose URL passed its check; the name now answers 127.0.0.1 (here, literally).
  const jobId = randomUUID()
  await service.app.trainingQueue.enqueue(
    jobId,
    {
      modelId: jobId,
      projectId: gamma.id,
      owner: 'key:test',
      datasetId: dataset.body.id,
      baseModel: { url: served.url },
      options: trainOptions({ datasetId: dataset.body.id, epochs: 1 }, ['cats', 'dogs']),
      requestId: 'rebind',
      keyed: true,
    },
    50,
  )
  const worker = startWorkerProcess(service.config)
  try {
    const failed = await untilJob(service.url, jobId, 'the job', { timeoutMs: 90_000, key: gamma.key })
    expect(failed.status).toBe('failed')
    expect(failed.error.code).toBe('URL_FORBIDDEN')
    expect(served.requests()).toBe(0)
  } finally {
    await worker.stop()
    await served.close()
  }
}, 120_000)

test("a guarded base download connects to the address it checked and loads from the worker's disk; a forbidden address fetches nothing", async () => {
  const served = await serveTinyBase(path.join(service.config.DATA_DIR, 'served-base-2'), { size: 32, headUnits: 4 })
  const port = new URL(served.url).port
  // No system resolver knows these names: a download that succeeds went to the address the check was given.
  const resolve = async () => [{ address: '127.0.0.1', family: 4 }]
  const guarded = (allowHosts: string[]) => ({ dir: path.join(service.config.DATA_DIR, 'fetched'), maxFileBytes: 1 << 20, check: { allowHosts: new Set(allowHosts), resolve } })
  try {
    const url = `http://model.test:${port}/model.json`
    const ref = await fetchUrlBase({ url }, guarded(['model.test']))
    expect(ref).toMatchObject({ contentKey: url })
    const base = await loadBase(ref, path.join(service.config.DATA_DIR, 'bases'))
    expect(base.id).toBe(baseId({ url }))
    base.dispose()
    const before = served.requests()
    await expect(fetchUrlBase({ url: `http://rebound.test:${port}/model.json` }, guarded([]))).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
    await expect(fetchUrlBase({ url: '/etc/passwd' }, guarded([]))).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
    expect(served.requests()).toBe(before)
  } finally {
    await served.close()
  }
})

test("a tenant's failed job names no machine: no worker hostname:pid, and paths relative to the project, never DATA_DIR", async () => {
  const delta = await project('delta')
  const baseDir = path.join(service.config.DATA_DIR, 'tiny-layers')
  await writeTinyBase(baseDir, { size: 32, headUnits: 4 })
  const files = await readdir(baseDir)
  const form = new FormData()
  form.append('name', 'tiny')
  form.append('file', new Blob([new Uint8Array(await makeZip(await Promise.all(files.map(async (name) => ({ path: name, data: await readFile(path.join(baseDir, name)) })))))]), 'model.zip')
  expect((await fetch(`${service.url}/bases`, { method: 'POST', body: form, headers: { authorization: `Bearer ${delta.key}` } })).status).toBe(201)
  // The stored base loses its weights on the worker's disk: loading it fails with file-system errors naming paths.
  const uploaded = path.join(service.config.DATA_DIR, 'projects', delta.id, 'bases', 'uploaded', 'tiny')
  const [modelDir] = (await readdir(uploaded)).filter((name) => name.startsWith('model-'))
  for (const name of files.filter((f) => f !== 'model.json')) await rm(path.join(uploaded, modelDir!, name))
  const dataset = await uploadDataset(service, await validZip(), 'set.zip', { authorization: `Bearer ${delta.key}` })
  const job = await call('POST', '/jobs', delta.key, { datasetId: dataset.body.id, baseModel: 'tiny', epochs: 1 })
  expect(job.status).toBe(202)
  const worker = startWorkerProcess(service.config)
  try {
    const failed = await waitFor(
      async () => {
        const doc = await call('GET', `/jobs/${job.body.id}`, delta.key)
        return doc.body.status === 'failed' || doc.body.status === 'completed' ? doc.body : undefined
      },
      90_000,
      'the job',
    )
    expect(failed).toMatchObject({ status: 'failed', worker: null, error: { code: 'BASE_MODEL_INVALID' } })
    expect(failed.error.message).toContain(`bases/uploaded/tiny/${modelDir}/`)
    expect(JSON.stringify(failed)).not.toContain(service.config.DATA_DIR)
    expect(JSON.stringify(failed)).not.toContain(`${hostname()}:`)
  } finally {
    await worker.stop()
  }
}, 120_000)

test('a store that fails answers 503 STORAGE_UNAVAILABLE with the cause, never the bucket or the endpoint (the log has them)', async () => {
  const legacy = `legacy-${randomUUID()}`
  // A port nothing listens on: the API starts and reports the store on each request.
  const down = await startTestService({
    API_KEYS: `${hashApiKey(legacy)}:train+predict`,
    PREDICT_THREADS: '0',
    STORAGE_URL: 's3://hidden-bucket/x?endpoint=http%3A%2F%2F127.0.0.1%3A9&forcePathStyle=true&region=us-east-1',
  })
  try {
    const response = await fetch(`${down.url}/datasets`, { headers: { authorization: `Bearer ${legacy}` } })
    expect(response.status).toBe(503)
    const { error } = (await response.json()) as { error: { code: string; message: string; details: unknown } }
    // Unreachable, or refusing the credentials where the environment has none: either way, what and its code.
    expect(error).toEqual({ code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/^the object store .* \((\w+)\)$/), details: { cause: expect.any(String) } })
    expect(error.message).toContain(`(${(error.details as { cause: string }).cause})`)
    expect(JSON.stringify(error)).not.toMatch(/hidden-bucket|127\.0\.0\.1|AWS_/)
  } finally {
    await down.close()
  }
})

test("with keys a job's priority orders its own project's jobs only: priority 1 never jumps another project's earlier job", async () => {
  // Its own service, so that only these jobs are queued (no worker takes them).
  const fresh = await startTestService({ API_KEYS: `${hashApiKey(ADMIN)}:admin` })
  const on = async (method: string, url: string, key: string, body?: unknown) =>
    json(await fetch(`${fresh.url}${url}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? null : JSON.stringify(body) }))
  try {
    const tenant = async (name: string) => {
      const id = (await on('POST', '/projects', ADMIN, { name })).body.id as string
      const key = (await on('POST', `/projects/${id}/keys`, ADMIN, { scopes: ['train'] })).body.key as string
      const dataset = await uploadDataset(fresh, await validZip(), 'set.zip', { authorization: `Bearer ${key}` })
      const queue = async (priority?: number) => {
        const job = await on('POST', '/jobs', key, { datasetId: dataset.body.id, ...(priority && { priority }) })
        expect(job.status).toBe(202)
        return job.body.id as string
      }
      return { key, queue }
    }
    const a = await tenant('a')
    const b = await tenant('b')
    const a1 = await a.queue()
    const a2 = await a.queue()
    const b1 = await b.queue()
    const urgent = [await a.queue(1), await a.queue(1)]
    const position = async (key: string, id: string) => (await on('GET', `/jobs/${id}`, key)).body.queuePosition as number
    // B's job had two jobs ahead and still has: A's urgent jobs took A's own places, ahead of A's earlier jobs.
    expect(await position(b.key, b1)).toBe(2)
    expect(await Promise.all([...urgent, a1, a2].map((id) => position(a.key, id)))).toEqual([0, 1, 3, 4])
    expect((await on('GET', `/jobs/${urgent[0]}`, a.key)).body.priority).toBe(1)
  } finally {
    await fresh.close()
  }
})

test('a project at its storage quota makes no more revisions: each one copies the images it keeps', async () => {
  const dataset = await uploadDataset(service, await validZip({ cats: 3, dogs: 3 }), 'set.zip', { authorization: `Bearer ${keys.a}` })
  expect(dataset.status).toBe(201)
  expect((await call('PUT', `/projects/${projects.a}/quota`, ADMIN, { storedBytes: 1 })).status).toBe(200)
  try {
    const [image] = (await call('GET', `/datasets/${dataset.body.id}/images`, keys.a)).body.items
    const refused = expectError(await call('POST', `/datasets/${dataset.body.id}/revisions`, keys.a, { drop: [image.path] }), 507, 'STORAGE_QUOTA_EXCEEDED')
    expect(refused.details).toMatchObject({ limit: 'quota.storedBytes', max: 1 })
    expect((await call('GET', '/datasets', keys.a)).body.datasets).toHaveLength(1)
  } finally {
    await call('PUT', `/projects/${projects.a}/quota`, ADMIN, {})
  }
})

test("a revoked key still in use is audited in its project's trail under its id, as a 401; never the key itself", async () => {
  const { id, key } = (await call('POST', `/projects/${projects.a}/keys`, ADMIN, { scopes: ['train'], name: 'old ci' })).body
  expect((await call('DELETE', `/projects/${projects.a}/keys/${id}`, ADMIN)).status).toBe(204)
  expectError(await call('DELETE', `/datasets/${randomUUID()}`, key), 401, 'UNAUTHORIZED')
  const trail = await waitFor(async () => {
    const { events } = (await call('GET', `/projects/${projects.a}/events?limit=5`, ADMIN)).body
    return events.find((e: { principal: string }) => e.principal === `key:${id}`)
  }, 2_000, 'the audit event')
  expect(trail).toMatchObject({ method: 'DELETE', route: '/datasets/:id', status: 401, code: 'UNAUTHORIZED' })
  expect(JSON.stringify((await call('GET', `/projects/${projects.a}/events?limit=500`, ADMIN)).body)).not.toContain(key)
  // An unknown key names no project: its attempt is only logged.
  expectError(await call('DELETE', `/datasets/${randomUUID()}`, `itk_${randomUUID()}`), 401, 'UNAUTHORIZED')
})

test('/readyz, open to anyone, names the kind of store and never its path', async () => {
  const ready = await call('GET', '/readyz', undefined)
  expect(ready.status).toBe(200)
  expect(ready.body.checks).toEqual({ redis: 'ok', storage: 'ok', store: 'local' })
  expect(JSON.stringify(ready.body)).not.toContain(service.config.DATA_DIR)
})

test('a tampered audit cursor is a 400, a cursor before every event an empty last page', async () => {
  const events = (cursor: string) => call('GET', `/projects/${projects.a}/events?cursor=${cursor}`, ADMIN)
  expectError(await events('99999999999999999999-0'), 400, 'VALIDATION')
  expectError(await events('1-99999999999999999999'), 400, 'VALIDATION')
  expect((await events('0-0')).body).toEqual({ events: [], nextCursor: null })
  expect((await events('18446744073709551615-18446744073709551615')).status).toBe(200)
})

test("B's job listing neither waits on nor hands out A's jobs, however many A queued", async () => {
  const datasetId = randomUUID()
  const job = (projectId: string) => ({
    modelId: randomUUID(),
    projectId,
    owner: 'key:test',
    datasetId,
    baseModel: 'mobilenet_v3_coco' as const,
    options: trainOptions({ datasetId }, ['a', 'b']),
    requestId: 'test',
  })
  const mine = job(projects.b)
  await service.app.trainingQueue.enqueue(mine.modelId, mine, 50)
  // More than one listing reads (LIST_SCAN_MAX in src/queue/producer.ts), all newer than B's job.
  for (let round = 0; round < 21; round++) {
    await Promise.all(Array.from({ length: 100 }, () => job(projects.a)).map((data) => service.app.trainingQueue.enqueue(data.modelId, data, 50)))
  }
  const listed = await call('GET', '/jobs?limit=10', keys.b)
  expect(listed.status).toBe(200)
  expect(listed.body.jobs.map((j: { id: string }) => j.id)).toEqual([mine.modelId])
  expect(listed.body.nextCursor).toBeNull()
  expect((await call('GET', '/jobs?limit=1', keys.a)).body.nextCursor).toMatch(/^\d{16}:/)
}, 120_000)
