/**
 * Projects and keys over real HTTP, real Redis and a real store: admin routes, keys shown once and stored hashed,
 * revocation seen by a second replica within a second, the registry refilled from the store after Redis lost it,
 * the legacy API_KEYS keys in `default`, open mode, and the audit trail.
 */
import { randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { Redis } from 'ioredis'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { callJson, type JsonResponse } from '../helpers/http.js'
import { expectError } from '../hostile/support.js'

const KEYS = { admin: `admin-${randomUUID()}`, legacy: `legacy-${randomUUID()}` }
const API_KEYS = `${hashApiKey(KEYS.admin)}:admin,${hashApiKey(KEYS.legacy)}:train+predict`

const call = (service: TestService, method: string, url: string, key?: string, body?: unknown): Promise<JsonResponse> => callJson(service.url, method, url, key, body)

describe('two replicas sharing Redis and the store', () => {
  let a: TestService
  let b: TestService

  beforeAll(async () => {
    a = await startTestService({ API_KEYS })
    b = await startTestService({ API_KEYS, QUEUE_PREFIX: a.config.QUEUE_PREFIX, DATA_DIR: a.config.DATA_DIR })
  })
  afterAll(async () => {
    await b?.app.close()
    await a?.close()
  })

  test('an admin creates a project and a key; the key works on both replicas, is listed without itself, and is stored hashed', async () => {
    const project = await call(a, 'POST', '/projects', KEYS.admin, { name: 'team-a' })
    expect(project.status).toBe(201)
    expect(project.body).toMatchObject({ name: 'team-a', quota: { queuedJobs: 50, storedBytes: 0 }, quotaOverride: {} })
    const created = await call(a, 'POST', `/projects/${project.body.id}/keys`, KEYS.admin, { scopes: ['train', 'predict'], name: 'ci' })
    expect(created.status).toBe(201)
    const { key, id: keyId } = created.body
    expect(key).toMatch(/^itk_/)
    expect(keyId).toBe(hashApiKey(key).slice(0, 16))

    for (const replica of [a, b]) {
      const me = await call(replica, 'GET', '/whoami', key)
      expect(me.status).toBe(200)
      expect(me.body).toEqual({ project: { id: project.body.id, name: 'team-a' }, principal: `key:${keyId}`, scopes: ['train', 'predict'], open: false })
    }
    const listed = await call(b, 'GET', `/projects/${project.body.id}/keys`, KEYS.admin)
    expect(listed.body.keys).toEqual([{ id: keyId, name: 'ci', scopes: ['train', 'predict'], createdAt: expect.any(String), lastUsedAt: expect.any(String) }])
    expect(JSON.stringify(listed.body)).not.toContain(key)

    // The backup in the store holds the hash, never the key.
    const dir = path.join(a.config.DATA_DIR, 'registry', 'projects', project.body.id, 'keys')
    const [file] = await readdir(dir)
    const stored = await readFile(path.join(dir, file!), 'utf8')
    expect(stored).toContain(hashApiKey(key))
    expect(stored).not.toContain(key)
  })

  test('a key revoked on one replica answers 401 on the other within 1 s', async () => {
    const project = await call(a, 'POST', '/projects', KEYS.admin, { name: 'revoke-me' })
    const { key, id: keyId } = (await call(a, 'POST', `/projects/${project.body.id}/keys`, KEYS.admin, { scopes: ['predict'] })).body
    expect((await call(b, 'GET', '/whoami', key)).status).toBe(200)
    const revoked = await call(a, 'DELETE', `/projects/${project.body.id}/keys/${keyId}`, KEYS.admin)
    expect(revoked.status).toBe(204)
    const started = performance.now()
    let latencyMs = Infinity
    for (;;) {
      if ((await call(b, 'GET', '/whoami', key)).status === 401) {
        latencyMs = performance.now() - started
        break
      }
      if (performance.now() - started > 1_000) break
    }
    expect(latencyMs).toBeLessThan(1_000)
    process.stdout.write(`revocation seen by the other replica after ${latencyMs.toFixed(1)} ms\n`)
    expectError(await call(a, 'DELETE', `/projects/${project.body.id}/keys/${keyId}`, KEYS.admin), 404, 'KEY_NOT_FOUND')
  })

  test('Redis losing the registry: projects and keys come back from the store, revoked ones stay revoked', async () => {
    const project = await call(a, 'POST', '/projects', KEYS.admin, { name: 'survivor' })
    const kept = (await call(a, 'POST', `/projects/${project.body.id}/keys`, KEYS.admin, { scopes: ['train'] })).body
    const gone = (await call(a, 'POST', `/projects/${project.body.id}/keys`, KEYS.admin, { scopes: ['train'] })).body
    expect((await call(a, 'DELETE', `/projects/${project.body.id}/keys/${gone.id}`, KEYS.admin)).status).toBe(204)

    // What a FLUSHALL does to this deployment's keys (only ours: Redis is shared with other tests).
    const redis = new Redis(a.config.REDIS_URL)
    const ours = await redis.keys(`${a.config.QUEUE_PREFIX}:projects:*`)
    expect(ours.length).toBeGreaterThan(0)
    await redis.del(...ours)
    redis.disconnect()

    expect((await call(b, 'GET', '/whoami', kept.key)).body.project.id).toBe(project.body.id)
    expectError(await call(b, 'GET', '/whoami', gone.key), 401, 'UNAUTHORIZED')
    const names = (await call(a, 'GET', '/projects', KEYS.admin)).body.projects.map((p: { name: string }) => p.name)
    expect(names).toEqual(expect.arrayContaining(['default', 'team-a', 'survivor']))
  })

  test('legacy API_KEYS keys act in the default project; admin routes need the admin scope', async () => {
    expect((await call(a, 'GET', '/whoami', KEYS.legacy)).body).toMatchObject({ project: { id: 'default' }, scopes: ['train', 'predict'] })
    expectError(await call(a, 'GET', '/projects', KEYS.legacy), 403, 'FORBIDDEN')
    expectError(await call(a, 'GET', '/datasets', KEYS.admin), 403, 'FORBIDDEN')
    expectError(await call(a, 'GET', '/projects', randomUUID()), 401, 'UNAUTHORIZED')
    expectError(await call(a, 'DELETE', '/projects/default', KEYS.admin), 409, 'PROJECT_PROTECTED')
    expectError(await call(a, 'GET', `/projects/${randomUUID()}`, KEYS.admin), 404, 'PROJECT_NOT_FOUND')
    // A project key may not carry admin.
    const project = await call(a, 'POST', '/projects', KEYS.admin, { name: 'no-admin' })
    expectError(await call(a, 'POST', `/projects/${project.body.id}/keys`, KEYS.admin, { scopes: ['admin'] }), 400, 'VALIDATION')
  })

  test('the audit trail lists mutating requests newest first with the key and outcome, paged by cursor', async () => {
    const project = await call(a, 'POST', '/projects', KEYS.admin, { name: 'audited' })
    const id = project.body.id
    const key = (await call(a, 'POST', `/projects/${id}/keys`, KEYS.admin, { scopes: ['train'] })).body
    expectError(await call(b, 'DELETE', `/datasets/${randomUUID()}`, key.key), 404, 'DATASET_NOT_FOUND')
    expect((await call(a, 'PUT', `/projects/${id}/quota`, KEYS.admin, { queuedJobs: 3 })).status).toBe(200)
    // Appends are not awaited by the request: give them a moment.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const first = await call(a, 'GET', `/projects/${id}/events?limit=2`, KEYS.admin)
    expect(first.status).toBe(200)
    expect(first.body.events.map((e: { method: string; route: string }) => `${e.method} ${e.route}`)).toEqual(['PUT /projects/:id/quota', 'DELETE /datasets/:id'])
    expect(first.body.events[1]).toMatchObject({ principal: `key:${key.id}`, status: 404, code: 'DATASET_NOT_FOUND', path: expect.stringMatching(/^\/datasets\//) })
    const second = await call(a, 'GET', `/projects/${id}/events?limit=2&cursor=${first.body.nextCursor}`, KEYS.admin)
    expect(second.body.events.map((e: { method: string; route: string }) => `${e.method} ${e.route}`)).toEqual(['POST /projects/:id/keys', 'POST /projects'])
    const last = await call(a, 'GET', `/projects/${id}/events?limit=2&cursor=${second.body.nextCursor}`, KEYS.admin)
    expect(last.body).toEqual({ events: [], nextCursor: null })
  })
})

describe('open mode', () => {
  let service: TestService
  beforeAll(async () => {
    service = await startTestService()
  })
  afterAll(async () => {
    await service?.close()
  })

  test('one default project, no administration', async () => {
    expect((await call(service, 'GET', '/whoami')).body).toMatchObject({ project: { id: 'default', name: 'default' }, scopes: ['train', 'predict'], open: true })
    expectError(await call(service, 'POST', '/projects', undefined, { name: 'x' }), 403, 'FORBIDDEN')
    expect((await call(service, 'GET', '/datasets')).status).toBe(200)
  })
})
