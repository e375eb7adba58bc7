import { createReadStream } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { OPEN_ROUTE } from '../plugins/auth.js'

/** Swagger UI's prebuilt assets, served as they ship; only these names are reachable. */
const ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
} as const
const ASSET_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>imagetune API</title><link rel="icon" href="/ui/logo.svg" type="image/svg+xml"><link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><p style="margin:0;padding:.6rem 1rem;font:15px system-ui,sans-serif"><a href="/ui/">← Back to the imagetune dashboard</a></p><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script>window.onload = () => { window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' }) }</script>
</body></html>`

/**
 * `GET /docs`: Swagger UI over the generated OpenAPI document. Served by hand rather than with
 * @fastify/swagger-ui, whose @fastify/static pulls an ESM-only dependency through require(), which jest cannot load.
 */
const docsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const hide = { hide: true }
  const page = async (_request: unknown, reply: FastifyReply) => reply.type('text/html; charset=utf-8').send(PAGE)
  // Both spellings: a link or a habit adds the slash, and the page's URLs are absolute either way.
  app.get('/docs', { config: OPEN_ROUTE, schema: hide }, page)
  app.get('/docs/', { schema: hide }, page)
  app.get('/docs/openapi.json', { config: OPEN_ROUTE, schema: hide }, async () => app.swagger())
  app.get(
    '/docs/static/:file',
    { config: OPEN_ROUTE, schema: { ...hide, params: Type.Object({ file: Type.Union(Object.keys(ASSETS).map((name) => Type.Literal(name))) }) } },
    async (request, reply) => {
      const file = request.params.file as keyof typeof ASSETS
      return reply
        .type(ASSETS[file])
        .header('cache-control', 'public, max-age=86400')
        .send(createReadStream(path.join(ASSET_DIR, file)))
    },
  )
}

export default docsRoutes
