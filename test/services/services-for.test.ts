/**
 * The seam between routes and data (src/http/plugins/services.ts): services are built once per project, a request
 * acts in the default project until keys name one, and the default project's data is the store root, so a
 * DATA_DIR or bucket written before projects existed reads the same.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { DEFAULT_PROJECT_ID } from '../../src/contract/projects.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { uploadDataset, validZip } from '../hostile/support.js'

let service: TestService

beforeAll(async () => {
  service = await startTestService()
})
afterAll(async () => {
  await service?.close()
})

test('servicesFor builds one set per project and keeps it', () => {
  const { app } = service
  expect(app.servicesFor(DEFAULT_PROJECT_ID)).toBe(app.servicesFor(DEFAULT_PROJECT_ID))
  expect(app.servicesFor('other')).not.toBe(app.servicesFor(DEFAULT_PROJECT_ID))
})

test("a request's data is the default project's, stored at the root of the store", async () => {
  const uploaded = await uploadDataset(service, await validZip())
  expect(uploaded.status).toBe(201)
  const id: string = uploaded.body.id
  expect((await service.app.servicesFor(DEFAULT_PROJECT_ID).datasets.get(id)).id).toBe(id)
  expect(existsSync(path.join(service.config.DATA_DIR, 'datasets', id, 'manifest.json'))).toBe(true)
})
