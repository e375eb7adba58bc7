import { createReadStream } from 'node:fs'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { safeJoin } from '../../storage/layout.js'
import { errorResponses, IdParamsSchema, NoContentSchema, IdSchema } from '../schemas/common.js'

/** A model id's files never change, so browsers and proxies may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
const WEIGHT_FILE = Type.String({ pattern: '^[A-Za-z0-9._-]+\\.bin$' })

const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { models, predictor } = app

  async function metadataOr404(id: string) {
    const metadata = await models.getMetadata(id)
    if (!metadata) throw new AppError('MODEL_NOT_FOUND', `no model ${id}`)
    return metadata
  }

  app.get('/models', { schema: { tags: ['models'], operationId: 'listModels', summary: 'List models', description: 'Every trained model with its metadata, newest first.', response: { 200: Type.Object({ models: Type.Array(Type.Unknown()) }) } } }, async () => ({
    models: await models.list(),
  }))

  app.get('/models/:id', { schema: { tags: ['models'], operationId: 'getModel', summary: 'Get a model', description: 'Labels, base model and preprocessing, metrics (accuracy, per-class precision/recall/F1, confusion matrix) and training history.', params: IdParamsSchema, response: { 200: Type.Unknown(), ...errorResponses } } }, async (request) =>
    metadataOr404(request.params.id),
  )

  // Loadable straight from a browser: tf.loadLayersModel('http://host/models/ID/model.json').
  app.get('/models/:id/model.json', { schema: { tags: ['models'], operationId: 'getModelJson', summary: 'The tfjs model topology', description: 'A LayersModel `model.json` whose weights are fetched from the same folder: `tf.loadLayersModel(url)` works as is.', params: IdParamsSchema, response: { 200: { description: 'tfjs LayersModel topology and weights manifest', content: { 'application/json': { schema: Type.Unknown() } } }, 404: errorResponses[404] } } }, async (request, reply) => {
    await metadataOr404(request.params.id)
    return reply
      .header('content-type', 'application/json')
      .header('cache-control', IMMUTABLE)
      .send(createReadStream(safeJoin(models.dir(request.params.id), 'model.json')))
  })

  app.get('/models/:id/:file', { schema: { tags: ['models'], operationId: 'getModelWeights', summary: 'A weights file of the model', description: 'Binary float32 weights named in model.json.', params: Type.Object({ id: IdSchema, file: WEIGHT_FILE }), response: { 200: { description: 'float32 weights, little-endian', content: { 'application/octet-stream': { schema: Type.Unknown() } } }, 400: errorResponses[400], 404: errorResponses[404] } } }, async (request, reply) => {
    await metadataOr404(request.params.id)
    return reply
      .header('content-type', 'application/octet-stream')
      .header('cache-control', IMMUTABLE)
      .send(createReadStream(safeJoin(models.dir(request.params.id), request.params.file)))
  })

  app.delete('/models/:id', { schema: { tags: ['models'], operationId: 'deleteModel', summary: 'Delete a model', description: 'Removes the stored files and drops the model from the predictor.', params: IdParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } }, async (request, reply) => {
    await metadataOr404(request.params.id)
    predictor.evict(request.params.id)
    await models.remove(request.params.id)
    return reply.code(204).send(null)
  })
}

export default modelRoutes
