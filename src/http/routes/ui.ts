import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { OPEN_ROUTE } from '../plugins/auth.js'

/**
 * The dashboard's hand-written ES modules and CSS: no build step, served as they are in the repository's `ui/`,
 * found from the package root (this module runs from `src/` in tests and from `dist/src/` when built).
 */
const UI_DIR = path.join(packageRoot(fileURLToPath(import.meta.url)), 'ui')
const UPLOT_DIR = path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** The nearest folder above `file` holding a package.json. */
function packageRoot(file: string): string {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${file}`)
  }
}

interface Asset {
  body: Buffer
  type: string
  etag: string
}

function asset(file: string): Asset {
  const body = readFileSync(file)
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream'
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }
}

/**
 * Every file the dashboard may serve, read once at start-up (about 100 KB): the `ui/` folder's own files plus
 * uPlot's prebuilt bundle. Names outside this map are 404, so no request path ever reaches the file system.
 */
function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(UI_DIR)) if (TYPES[path.extname(name)]) assets.set(name, asset(path.join(UI_DIR, name)))
  assets.set('uplot.js', asset(path.join(UPLOT_DIR, 'uPlot.iife.min.js')))
  assets.set('uplot.css', asset(path.join(UPLOT_DIR, 'uPlot.min.css')))
  return assets
}

/**
 * Revalidated on every use (`no-cache`) and answered 304 while the ETag (a content hash) matches: a new
 * deployment is seen at once, and an unchanged file costs a header round trip, not its bytes.
 */
function send(request: FastifyRequest, reply: FastifyReply, file: Asset) {
  reply.header('etag', file.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff')
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
  return reply.type(file.type).send(file.body)
}

/**
 * `GET /` and `GET /ui/`: the dashboard, a static single-page app that uses only the public HTTP API. Its assets
 * are open (like /docs); the page asks for an API key and sends it with each API call.
 */
const uiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const assets = loadAssets()
  const index = assets.get('index.html')
  if (!index) throw new Error(`ui/index.html is missing from ${UI_DIR}`)
  const hide = { hide: true }
  app.get('/', { config: OPEN_ROUTE, schema: hide }, async (_request, reply) => reply.redirect('/ui/'))
  app.get('/ui', { config: OPEN_ROUTE, schema: hide }, async (_request, reply) => reply.redirect('/ui/'))
  app.get('/ui/', { config: OPEN_ROUTE, schema: hide }, async (request, reply) => send(request, reply, index))
  app.get('/ui/:file', { config: OPEN_ROUTE, schema: { ...hide, params: Type.Object({ file: Type.String({ pattern: '^[a-z0-9-]+\\.(js|css|html|svg)$' }) }) } }, async (request, reply) => {
    const file = assets.get(request.params.file)
    if (!file) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no dashboard file ${request.params.file}` } })
    return send(request, reply, file)
  })
}

export default uiRoutes
