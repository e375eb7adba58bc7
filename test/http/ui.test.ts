/**
 * The dashboard's static files and the dataset image route, over real HTTP with API keys configured: the page
 * loads without a key, its API calls (dataset images included) need one, and unchanged files answer 304.
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, type TestService } from '../helpers/service.js'

const TRAIN_KEY = `train-${randomUUID()}`
const PREDICT_KEY = `predict-${randomUUID()}`

let service: TestService

beforeAll(async () => {
  service = await startTestService({ API_KEYS: `${hashApiKey(TRAIN_KEY)}:train,${hashApiKey(PREDICT_KEY)}:predict` })
})
afterAll(async () => {
  await service?.close()
})

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${service.url}${path}`, { headers, redirect: 'manual' })
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) }
}

test('/ redirects to /ui/, whose page and assets load without a key', async () => {
  const root = await get('/')
  expect(root.status).toBe(302)
  expect(root.headers.get('location')).toBe('/ui/')
  const page = await get('/ui/')
  expect(page.status).toBe(200)
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
  expect(page.body.toString()).toContain('<script type="module" src="/ui/app.js">')
  // Every file the page names is served, uPlot's bundle from node_modules included.
  const named = [...page.body.toString().matchAll(/(?:src|href)="\/ui\/([^"]+)"/g)].map((m) => m[1])
  expect(named).toEqual(expect.arrayContaining(['app.js', 'style.css', 'uplot.js', 'uplot.css']))
  for (const file of named) expect((await get(`/ui/${file}`)).status).toBe(200)
  const app = await get('/ui/app.js')
  expect(app.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
  expect(app.body.equals(await readFile('ui/app.js'))).toBe(true)
})

test('assets carry a content ETag and answer 304 while it matches', async () => {
  const first = await get('/ui/style.css')
  const etag = first.headers.get('etag')
  expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/)
  expect(first.headers.get('cache-control')).toBe('no-cache')
  const again = await get('/ui/style.css', { 'if-none-match': etag! })
  expect(again.status).toBe(304)
  expect(again.body.length).toBe(0)
  expect((await get('/ui/style.css', { 'if-none-match': '"stale"' })).status).toBe(200)
  expect((await get('/ui/app.js')).headers.get('etag')).not.toBe(etag)
})

test('only the whitelisted files are reachable', async () => {
  for (const path of ['/ui/nope.js', '/ui/..%2Fpackage.json', '/ui/%2e%2e%2fsrc%2fconfig.ts', '/ui/package.json', '/ui/README.md']) {
    const response = await get(path)
    expect([400, 404]).toContain(response.status)
    expect(JSON.parse(response.body.toString()).error.code).toMatch(/^(NOT_FOUND|VALIDATION)$/)
  }
})

test('GET /datasets/:id/images/<class>/<file> serves a stored image to a train key only', async () => {
  const files = await makeImageFolder({ cats: 2, dogs: 2 }, { size: 40 })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(files))]), 'pets.zip')
  const upload = await fetch(`${service.url}/datasets`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TRAIN_KEY}` } })
  expect(upload.status).toBe(201)
  const { id } = (await upload.json()) as { id: string }
  const train = { authorization: `Bearer ${TRAIN_KEY}` }

  const image = await get(`/datasets/${id}/images/cats/000.png`, train)
  expect(image.status).toBe(200)
  expect(image.headers.get('content-type')).toBe('image/png')
  expect(image.body.equals(files.find((f) => f.path === 'cats/000.png')!.data as Buffer)).toBe(true)

  expect((await get(`/datasets/${id}/images/cats/000.png`)).status).toBe(401)
  expect((await get(`/datasets/${id}/images/cats/000.png`, { authorization: `Bearer ${PREDICT_KEY}` })).status).toBe(403)
  for (const path of [`cats/999.png`, `cats`, `../manifest.json`, `..%2fmanifest.json`, `cats/..%2f..%2fmanifest.json`, `.hidden/x.png`]) {
    const response = await get(`/datasets/${id}/images/${path}`, train)
    expect([400, 404]).toContain(response.status)
    expect(response.body.toString()).not.toContain('"imageCount"')
  }
  expect((await get(`/datasets/${randomUUID()}/images/cats/000.png`, train)).status).toBe(404)
})

test('/docs names the favicon the dashboard serves and links back to the dashboard', async () => {
  const docs = (await get('/docs')).body.toString()
  const icon = /<link rel="icon" href="([^"]+)"/.exec(docs)?.[1]
  expect(icon).toBe('/ui/logo.svg')
  expect((await get(icon!)).status).toBe(200)
  expect(docs).toContain('<a href="/ui/">')
})
