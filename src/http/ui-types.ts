/**
 * JSDoc types for the dashboard, generated from the OpenAPI document: the UI is plain ES modules with no build
 * step, so `// @ts-check` plus these typedefs is how it learns the shapes the API answers (a guessed shape is how
 * it once read `bestEpoch` from the wrong place). `npm run openapi` writes ui/api-types.js beside openapi.yaml.
 */

/** Schema-like node of the OpenAPI document (JSON Schema 2020-12 as @fastify/swagger writes it). */
interface Schema {
  type?: string | string[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
  const?: unknown
  enum?: unknown[]
  patternProperties?: Record<string, Schema>
  additionalProperties?: boolean | Schema
}

/**
 * Where a typedef's schema is read: the JSON answer with `status` (200 when absent), or the JSON request body; `at`
 * names a part of it (`['properties', 'history', 'items']`: one element of its `history`).
 */
interface Source {
  path: string
  method: string
  status?: string
  request?: true
  at?: string[]
}

/**
 * The typedefs the UI gets: the answers it reads, the job request its form builds, the error envelope, and the
 * shapes several of them share. Within a typedef, a part equal to an earlier-listed shape is written as its name.
 */
export const UI_TYPES: Record<string, Source> = {
  Metrics: { path: '/models/{id}', method: 'get', at: ['properties', 'metrics'] },
  EpochRecord: { path: '/models/{id}', method: 'get', at: ['properties', 'history', 'items'] },
  Model: { path: '/models/{id}', method: 'get' },
  ModelList: { path: '/models', method: 'get' },
  AliasList: { path: '/models/aliases', method: 'get' },
  Job: { path: '/jobs/{id}', method: 'get' },
  JobList: { path: '/jobs', method: 'get' },
  JobRequest: { path: '/jobs', method: 'post', request: true },
  QueuedJob: { path: '/jobs', method: 'post', status: '202' },
  Dataset: { path: '/datasets/{id}', method: 'get' },
  DatasetList: { path: '/datasets', method: 'get' },
  UploadedDataset: { path: '/datasets', method: 'post', status: '201' },
  Revision: { path: '/datasets/{id}/revisions', method: 'post', status: '201' },
  DatasetImagePage: { path: '/datasets/{id}/images', method: 'get' },
  Prediction: { path: '/predict', method: 'post' },
  // Every error answer has this envelope; one route's 404 stands for all of them.
  ErrorBody: { path: '/models/{id}', method: 'get', status: '404' },
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * A TypeScript type expression (as JSDoc under @ts-check reads it) for `schema`. Object types take one line per
 * field, indented two spaces a level from `indent`, so a schema change shows in a diff as the fields it touches.
 * A part of `schema` whose JSON is a key of `names` is written as that name.
 */
export function typeExpression(schema: Schema, indent = '', names: ReadonlyMap<string, string> = new Map()): string {
  const part = (inner: Schema, at: string) => names.get(JSON.stringify(inner)) ?? typeExpression(inner, at, names)
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ')
  const union = schema.anyOf ?? schema.oneOf
  if (union) return `(${union.map((member) => part(member, indent)).join(' | ')})`
  if (Array.isArray(schema.type)) return `(${schema.type.map((type) => typeExpression({ ...schema, type }, indent, names)).join(' | ')})`
  switch (schema.type) {
    case 'string':
      return 'string'
    case 'number':
    case 'integer':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'null':
      return 'null'
    case 'array':
      return `Array<${schema.items ? part(schema.items, indent) : 'unknown'}>`
    case 'object': {
      const inner = `${indent}  `
      const required = new Set(schema.required ?? [])
      const fields = Object.entries(schema.properties ?? {}).map(
        ([name, value]) => `${inner}${IDENTIFIER.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${part(value, inner)},`,
      )
      const rest = Object.values(schema.patternProperties ?? {})[0] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined)
      if (rest && fields.length === 0) return `Record<string, ${part(rest, indent)}>`
      return fields.length ? `{\n${fields.join('\n')}\n${indent}}` : '{}'
    }
    default:
      return 'unknown'
  }
}

interface Body {
  content?: Record<string, { schema?: Schema }>
}

interface Operation {
  requestBody?: Body
  responses?: Record<string, Body>
}

/** ui/api-types.js for an OpenAPI document. */
export function uiTypesModule(doc: { paths: Record<string, Record<string, Operation>> }): string {
  const schemas = Object.entries(UI_TYPES).map(([name, { path, method, status = '200', request, at = [] }]) => {
    const operation = doc.paths[path]?.[method]
    const body = request ? operation?.requestBody : operation?.responses?.[status]
    let schema: unknown = body?.content?.['application/json']?.schema
    for (const key of at) schema = (schema as Record<string, unknown> | undefined)?.[key]
    const origin = `${method.toUpperCase()} ${path}: the JSON ${request ? 'request body' : `${status} answer`}${at.length ? ` at ${at.join('.')}` : ''}`
    if (!schema) throw new Error(`no ${origin} in the OpenAPI document`)
    return { name, schema: schema as Schema, origin }
  })
  // The first name listed for a shape: a later typedef equal to it (QueuedJob and Job) is written as that name.
  const names = new Map<string, string>()
  for (const { name, schema } of schemas) if (!names.has(JSON.stringify(schema))) names.set(JSON.stringify(schema), name)
  const typedefs = schemas.map(({ name, schema, origin }) => {
    const others = new Map([...names].filter(([, other]) => other !== name))
    const lines = [`${origin}.`, ...`@typedef {${others.get(JSON.stringify(schema)) ?? typeExpression(schema, '', others)}} ${name}`.split('\n')]
    return ['/**', ...lines.map((line) => ` * ${line}`), ' */'].join('\n')
  })
  return [
    '// @ts-check',
    '// Generated from the OpenAPI document by `npm run openapi` (src/http/ui-types.ts): do not edit.',
    "// Use: /** @type {import('./api-types.js').Model} */ const model = await api(`/models/${id}`)",
    ...typedefs,
    'export {}',
    '',
  ].join('\n')
}
