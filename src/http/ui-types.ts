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

/** Where a typedef's schema is read: the JSON answer with `status` (200 when absent), or the JSON request body. */
interface Source {
  path: string
  method: string
  status?: string
  request?: true
}

/** The typedefs the UI gets: the answers it reads, the job request its form builds, and the error envelope. */
export const UI_TYPES: Record<string, Source> = {
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
 */
export function typeExpression(schema: Schema, indent = ''): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ')
  const union = schema.anyOf ?? schema.oneOf
  if (union) return `(${union.map((member) => typeExpression(member, indent)).join(' | ')})`
  if (Array.isArray(schema.type)) return `(${schema.type.map((type) => typeExpression({ ...schema, type }, indent)).join(' | ')})`
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
      return `Array<${schema.items ? typeExpression(schema.items, indent) : 'unknown'}>`
    case 'object': {
      const inner = `${indent}  `
      const required = new Set(schema.required ?? [])
      const fields = Object.entries(schema.properties ?? {}).map(
        ([name, value]) => `${inner}${IDENTIFIER.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${typeExpression(value, inner)},`,
      )
      const rest = Object.values(schema.patternProperties ?? {})[0] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined)
      if (rest && fields.length === 0) return `Record<string, ${typeExpression(rest, indent)}>`
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
  const typedefs = Object.entries(UI_TYPES).map(([name, { path, method, status = '200', request }]) => {
    const operation = doc.paths[path]?.[method]
    const part = request ? operation?.requestBody : operation?.responses?.[status]
    const schema = part?.content?.['application/json']?.schema
    if (!schema) throw new Error(`no JSON ${request ? 'request body' : `${status} answer`} for ${method.toUpperCase()} ${path} in the OpenAPI document`)
    const lines = `@typedef {${typeExpression(schema)}} ${name}`.split('\n')
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
