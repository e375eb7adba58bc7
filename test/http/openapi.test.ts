import { readFile } from 'node:fs/promises'
import { openapiYaml } from '../../src/http/openapi-document.js'

test('openapi.yaml is the document generated from the route schemas (run `npm run openapi` after changing a route)', async () => {
  const committed = await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8')
  expect(await openapiYaml()).toBe(committed)
})

test('the document names every public route', async () => {
  const doc = await openapiYaml()
  for (const route of ['/datasets:', '/datasets/{id}:', '/jobs:', '/jobs/{id}:', '/models/{id}:', '/models/{id}/model.json:', '/predict:', '/readyz:']) {
    expect(doc).toContain(`  ${route}`)
  }
})

test('GET /docs serves Swagger UI over the same document', async () => {
  const { startTestService } = await import('../helpers/service.js')
  const service = await startTestService()
  try {
    const page = await fetch(`${service.url}/docs`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('SwaggerUIBundle')
    const spec = (await (await fetch(`${service.url}/docs/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> }
    expect(spec.openapi).toBe('3.1.0')
    expect(Object.keys(spec.paths)).toContain('/jobs/{id}')
    const bundle = await fetch(`${service.url}/docs/static/swagger-ui-bundle.js`)
    expect(bundle.status).toBe(200)
    expect((await bundle.text()).length).toBeGreaterThan(100_000)
    const escape = await fetch(`${service.url}/docs/static/..%2Fpackage.json`)
    expect(escape.status).toBe(400)
    await escape.body?.cancel()
  } finally {
    await service.close()
  }
})
