/**
 * `imagetune projects`, `imagetune keys` and `imagetune whoami` as a user runs them: the built CLI in its own
 * process against the real service, with IMAGETUNE_API_KEY as the only credential.
 */
import { randomUUID } from 'node:crypto'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { runCli } from '../helpers/cli.js'
import { startTestService, type TestService } from '../helpers/service.js'

const ADMIN = `admin-${randomUUID()}`
const LEGACY = `legacy-${randomUUID()}`
let service: TestService

beforeAll(async () => {
  service = await startTestService({ API_KEYS: `${hashApiKey(ADMIN)}:admin,${hashApiKey(LEGACY)}:train+predict` })
})
afterAll(async () => {
  await service?.close()
})

const cli = (args: string[], apiKey: string) => runCli(service.url, args, { IMAGETUNE_API_KEY: apiKey })

test('an admin creates a project and a key; the key is printed once on stdout, works, is listed, audited and revoked', async () => {
  const created = await cli(['projects', 'create', 'search', 'team'], ADMIN)
  expect(created.code).toBe(0)
  const projectId = /^id: +(\S+)$/m.exec(created.stdout)?.[1]
  expect(created.stdout).toMatch(/^name: +search team$/m)
  expect(created.stdout).toMatch(/^queuedJobs +50 +default$/m)

  const key = await cli(['keys', 'create', projectId!, '--scopes', 'train,predict', '--name', 'ci'], ADMIN)
  expect(key.code).toBe(0)
  expect(key.stderr).toContain('shown this once')
  const secret = key.stdout.trim()
  expect(secret).toMatch(/^itk_\S+$/)

  const me = await cli(['whoami'], secret)
  expect(me.code).toBe(0)
  expect(me.stdout).toContain(`project: search team (${projectId})`)
  expect(me.stdout).toMatch(/^scopes: +train predict$/m)

  const listed = await cli(['keys', 'ls', projectId!], ADMIN)
  const keyId = hashApiKey(secret).slice(0, 16)
  expect(listed.stdout).toMatch(new RegExp(`^${keyId} +ci +train\\+predict `, 'm'))
  expect(listed.stdout).not.toContain(secret)

  const quota = await cli(['projects', 'quota', projectId!, '--queued-jobs', '5'], ADMIN)
  expect(quota.stdout).toMatch(/^queuedJobs +5 +override$/m)
  expect((await cli(['projects', 'ls'], ADMIN)).stdout).toMatch(/^default +default /m)

  const revoked = await cli(['keys', 'revoke', projectId!, keyId], ADMIN)
  expect(revoked.code).toBe(0)
  const refused = await cli(['whoami'], secret)
  expect(refused.code).toBe(1)
  expect(refused.stderr).toContain('UNAUTHORIZED')

  const events = await cli(['projects', 'events', projectId!, '--limit', '10'], ADMIN)
  expect(events.stdout).toMatch(new RegExp(`key:\\S+ +DELETE /projects/${projectId}/keys/${keyId} +204`))
  expect(events.stdout).toMatch(new RegExp(`PUT /projects/${projectId}/quota +200`))

  expect((await cli(['projects', 'delete', projectId!], ADMIN)).code).toBe(0)
  expect((await cli(['projects', 'show', projectId!], ADMIN)).stderr).toContain('PROJECT_NOT_FOUND')
})

test('IMAGETUNE_API_KEY with a key from API_KEYS keeps working, in the default project', async () => {
  const me = await cli(['whoami'], LEGACY)
  expect(me.code).toBe(0)
  expect(me.stdout).toContain('project: default (default)')
  expect((await cli(['datasets', 'ls'], LEGACY)).code).toBe(0)
  const refused = await cli(['projects', 'ls'], LEGACY)
  expect(refused.code).toBe(1)
  expect(refused.stderr).toContain('FORBIDDEN')
})
