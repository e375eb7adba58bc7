import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ModelSchema } from '../../contract/models.js'
import { MODEL_FILE_ROUTE } from '../plugins/auth.js'
import { errorResponses, IdParamsSchema, NoContentSchema, IdSchema } from '../schemas/common.js'
import { AliasBodySchema, AliasListSchema, AliasParamsSchema, AliasSchema, RenameModelBodySchema } from '../schemas/models.js'

/** A model id's files never change, so browsers and proxies may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
const WEIGHT_FILE = Type.String({ pattern: '^[A-Za-z0-9._-]+\\.bin$' })

/** RFC 9110 If-None-Match: `*` or a list of (possibly weak) tags, compared weakly. */
function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  /** Sends one of a model's files with ETag and immutable caching, or 304 when the client already holds it. */
  async function sendModelFile(request: FastifyRequest, reply: FastifyReply, id: string, file: string, type: string) {
    // The store's strong validator: the S3 ETag, or size + mtime on disk (a model's files are written once).
    const opened = await request.services.models.openFile(id, file)
    reply.header('etag', opened.etag).header('cache-control', IMMUTABLE)
    if (matchesIfNoneMatch(request.headers['if-none-match'], opened.etag)) {
      opened.body.on('error', () => {}) // a file stream still opening reports its own destruction
      opened.body.destroy()
      return reply.code(304).send()
    }
    return reply.header('content-type', type).header('content-length', opened.size).send(opened.body)
  }

  app.get('/models', { schema: { tags: ['models'], operationId: 'listModels', summary: 'List models', description: 'Every trained model with its metadata, newest first.', response: { 200: Type.Object({ models: Type.Array(ModelSchema) }) } } }, async (request) => ({
    models: await request.services.models.list(),
  }))

  // Static segments win over `/models/:id` in the router, so `aliases` is never taken for a model id.
  app.get('/models/aliases', { schema: { tags: ['models'], operationId: 'listAliases', summary: 'List model aliases', description: 'Every alias and the model id it points at, by name.', response: { 200: AliasListSchema } } }, async (request) => ({
    aliases: await request.services.models.listAliases(),
  }))

  app.get('/models/aliases/:name', { schema: { tags: ['models'], operationId: 'getAlias', summary: 'Read an alias', description: 'The model id an alias points at.', params: AliasParamsSchema, response: { 200: AliasSchema, ...errorResponses } } }, async (request) => {
    return { name: request.params.name, modelId: await request.services.models.getAlias(request.params.name) }
  })

  // Moving `prod` to a new model is one atomic file replacement: a request resolves the old or the new id.
  app.put(
    '/models/aliases/:name',
    { schema: { tags: ['models'], operationId: 'putAlias', summary: 'Point an alias at a model', description: 'Creates or moves the alias in one atomic step: a concurrent `/predict?model=<alias>` resolves the old or the new model, never neither.', params: AliasParamsSchema, body: AliasBodySchema, response: { 200: AliasSchema, ...errorResponses } } },
    async (request) => {
      await request.services.models.setAlias(request.params.name, request.body.modelId)
      return { name: request.params.name, modelId: request.body.modelId }
    },
  )

  app.delete('/models/aliases/:name', { schema: { tags: ['models'], operationId: 'deleteAlias', summary: 'Delete an alias', description: 'The model itself stays.', params: AliasParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } }, async (request, reply) => {
    await request.services.models.removeAlias(request.params.name)
    return reply.code(204).send(null)
  })

  app.get('/models/:id', { schema: { tags: ['models'], operationId: 'getModel', summary: 'Get a model', description: 'Labels, base model and preprocessing, metrics (accuracy, per-class precision/recall/F1, confusion matrix), training history, and the data insights of its job: labelIssues, nearDuplicates, classGuidance (absent on models trained before them).', params: IdParamsSchema, response: { 200: ModelSchema, ...errorResponses } } }, async (request) =>
    request.services.models.get(request.params.id),
  )

  app.patch(
    '/models/:id',
    { schema: { tags: ['models'], operationId: 'renameModel', summary: 'Rename a model', description: 'Sets the display name (`name` in the model document); the id, files and aliases stay as they are.', params: IdParamsSchema, body: RenameModelBodySchema, response: { 200: ModelSchema, ...errorResponses } } },
    async (request) => request.services.models.rename(request.params.id, request.body.name.trim()),
  )

  // Loadable straight from a browser: tf.loadLayersModel('http://host/models/ID/model.json').
  app.get('/models/:id/model.json', { config: MODEL_FILE_ROUTE, schema: { tags: ['models'], operationId: 'getModelJson', summary: 'The tfjs model topology', description: 'A LayersModel `model.json` whose weights are fetched from the same folder: `tf.loadLayersModel(url)` works as is. Strong ETag; `If-None-Match` answers 304.', params: IdParamsSchema, response: { 200: { description: 'tfjs LayersModel topology and weights manifest', content: { 'application/json': { schema: Type.Unknown() } } }, 404: errorResponses[404] } } }, async (request, reply) =>
    sendModelFile(request, reply, request.params.id, 'model.json', 'application/json'),
  )

  app.get('/models/:id/:file', { config: MODEL_FILE_ROUTE, schema: { tags: ['models'], operationId: 'getModelWeights', summary: 'A weights file of the model', description: 'Binary float32 weights named in model.json. Strong ETag; `If-None-Match` answers 304.', params: Type.Object({ id: IdSchema, file: WEIGHT_FILE }), response: { 200: { description: 'float32 weights, little-endian', content: { 'application/octet-stream': { schema: Type.Unknown() } } }, 400: errorResponses[400], 404: errorResponses[404] } } }, async (request, reply) =>
    sendModelFile(request, reply, request.params.id, request.params.file, 'application/octet-stream'),
  )

  app.delete(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        operationId: 'deleteModel',
        summary: 'Delete a model',
        description:
          'Removes the stored files and drops the model from every prediction thread. A model that aliases point at is 409 `MODEL_IN_USE` (`details.aliases` names them) unless `force=true`, which deletes those aliases first: an alias never points at a deleted model.',
        params: IdParamsSchema,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean({ default: false, description: 'also delete the aliases that point at the model' })) }, { additionalProperties: false }),
        response: { 204: NoContentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const removed = await request.services.models.remove(id, { force: request.query.force ?? false })
      if (removed.length > 0) request.log.info({ modelId: id, aliases: removed }, 'aliases of a deleted model removed')
      return reply.code(204).send(null)
    },
  )
}

export default modelRoutes
