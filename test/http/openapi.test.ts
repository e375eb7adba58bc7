import { readFile } from 'node:fs/promises'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'
import { openapiYaml } from '../../src/http/openapi-document.js'

interface Media {
  schema?: object
  example?: unknown
}
interface Operation {
  operationId?: string
  tags?: string[]
  summary?: string
  description?: string
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { description: string; content?: Record<string, Media> }>
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> }

let yamlText: string
let doc: Doc
const operations: [string, Operation][] = []

beforeAll(async () => {
  yamlText = await openapiYaml()
  doc = parse(yamlText) as Doc
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) operations.push([`${method.toUpperCase()} ${path}`, operation])
  }
})

test('openapi.yaml is the document generated from the route schemas (run `npm run openapi` after changing a route)', async () => {
  const committed = await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8')
  expect(yamlText).toBe(committed)
})

test('the document is valid OpenAPI 3.1', async () => {
  const result = await new Validator().validate(structuredClone(doc) as Parameters<Validator['validate']>[0])
  expect(result.errors ?? []).toEqual([])
  expect(result.valid).toBe(true)
  expect(doc.openapi).toBe('3.1.0')
})

test('the document names every public route', () => {
  for (const route of ['/datasets', '/datasets/{id}', '/jobs', '/jobs/{id}', '/models', '/models/{id}', '/models/{id}/model.json', '/predict', '/healthz', '/readyz', '/metrics']) {
    expect(Object.keys(doc.paths)).toContain(route)
  }
  expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([])
})

test('every operation has a tag, summary, description and a unique operationId', () => {
  const ids = new Set<string>()
  for (const [name, operation] of operations) {
    expect({ name, tags: operation.tags?.length ?? 0 }).toEqual({ name, tags: 1 })
    expect({ name, summary: Boolean(operation.summary), description: Boolean(operation.description) }).toEqual({ name, summary: true, description: true })
    expect(operation.operationId).toMatch(/^[a-z][A-Za-z]+$/)
    ids.add(operation.operationId!)
  }
  expect(ids.size).toBe(operations.length)
})

test('errors are documented with the error schema and an example whose code fits the status', () => {
  let errors = 0
  for (const [name, operation] of operations) {
    for (const [status, response] of Object.entries(operation.responses)) {
      if (Number(status) < 400 || name === 'GET /readyz') continue
      errors++
      const media = response.content?.['application/json']
      expect({ name, status, required: (media?.schema as { required?: string[] })?.required }).toEqual({ name, status, required: ['error'] })
      expect(response.description).not.toBe('Default Response')
      expect((media?.example as { error: { code: string } }).error.code).toMatch(/^[A-Z_]+$/)
    }
  }
  expect(errors).toBeGreaterThan(40)
})

test('every JSON example validates against the schema it illustrates', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats.default(ajv)
  let checked = 0
  for (const [name, operation] of operations) {
    const media = [
      ...Object.entries(operation.responses).map(([status, r]) => [status, r.content?.['application/json']] as const),
      ['request', operation.requestBody?.content['application/json']] as const,
    ]
    for (const [where, m] of media) {
      if (!m?.schema || m.example === undefined) continue
      const validate = ajv.compile(m.schema)
      expect({ name, where, errors: validate(m.example) ? null : validate.errors }).toEqual({ name, where, errors: null })
      checked++
    }
  }
  expect(checked).toBeGreaterThan(60)
})

test('every JSON success response has an example; upload bodies are documented per media type', () => {
  for (const [name, operation] of operations) {
    const success = Object.entries(operation.responses).find(([status]) => status.startsWith('2'))
    const media = success?.[1].content?.['application/json']
    if (media?.schema && Object.keys(media.schema).length > 0) expect({ name, example: media.example !== undefined }).toEqual({ name, example: true })
  }
  expect(Object.keys(doc.paths['/datasets']!.post!.requestBody!.content)).toEqual(['multipart/form-data'])
  expect(Object.keys(doc.paths['/predict']!.post!.requestBody!.content).sort()).toEqual(['application/json', 'image/jpeg', 'image/png', 'image/webp', 'multipart/form-data'])
  expect(doc.paths['/jobs']!.post!.requestBody!.content['application/json']!.example).toBeDefined()
})

test('GET /docs serves Swagger UI over the same document', async () => {
  const { startTestService } = await import('../helpers/service.js')
  const service = await startTestService()
  try {
    for (const path of ['/docs', '/docs/']) {
      const page = await fetch(`${service.url}${path}`)
      expect([path, page.status]).toEqual([path, 200])
      expect(await page.text()).toContain('SwaggerUIBundle')
    }
    const spec = (await (await fetch(`${service.url}/docs/openapi.json`)).json()) as Doc
    expect(spec).toEqual(doc)
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
