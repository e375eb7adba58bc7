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

  app.get('/models', { schema: { response: { 200: Type.Object({ models: Type.Array(Type.Unknown()) }) } } }, async () => ({
    models: await models.list(),
  }))

  app.get('/models/:id', { schema: { params: IdParamsSchema, response: { 200: Type.Unknown(), ...errorResponses } } }, async (request) =>
    metadataOr404(request.params.id),
  )

  // Loadable straight from a browser: tf.loadLayersModel('http://host/models/ID/model.json').
  app.get('/models/:id/model.json', { schema: { params: IdParamsSchema } }, async (request, reply) => {
    await metadataOr404(request.params.id)
    return reply
      .header('content-type', 'application/json')
      .header('cache-control', IMMUTABLE)
      .send(createReadStream(safeJoin(models.dir(request.params.id), 'model.json')))
  })

  app.get('/models/:id/:file', { schema: { params: Type.Object({ id: IdSchema, file: WEIGHT_FILE }) } }, async (request, reply) => {
    await metadataOr404(request.params.id)
    return reply
      .header('content-type', 'application/octet-stream')
      .header('cache-control', IMMUTABLE)
      .send(createReadStream(safeJoin(models.dir(request.params.id), request.params.file)))
  })

  app.delete('/models/:id', { schema: { params: IdParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } }, async (request, reply) => {
    await metadataOr404(request.params.id)
    predictor.evict(request.params.id)
    await models.remove(request.params.id)
    return reply.code(204).send(null)
  })
}

export default modelRoutes
