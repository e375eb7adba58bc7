import path from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { errorResponses, IdSchema } from '../schemas/common.js'

/** Stored images keep the format they were uploaded in; anything else is served as bytes, never sniffed. */
const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
}

/** A dataset never changes once published, so its images may be cached for good. */
const IMMUTABLE = 'private, max-age=31536000, immutable'

/**
 * `GET /datasets/:id/images/<class>/<file>`: one stored image, read-only (scope train), so the dashboard can show
 * the misclassified validation images a model's metrics name by dataset path (`images/<class>/<file>`).
 */
const datasetImageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { datasets } = app
  app.get(
    '/datasets/:id/images/*',
    {
      schema: {
        tags: ['datasets'],
        operationId: 'getDatasetImage',
        summary: 'One stored image of a dataset',
        description: 'The validated copy as stored, by its path under the class folder (`<class>/<file>`), e.g. to show misclassified validation images.',
        params: Type.Object({ id: IdSchema, '*': Type.String({ minLength: 1, maxLength: 1024 }) }),
        response: { 200: { description: 'the image, as stored', content: { 'image/*': { schema: Type.Unknown() } } }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id, '*': rest } = request.params
      const notFound = () => new AppError('NOT_FOUND', `no image ${rest} in dataset ${id}`)
      // The store refuses `..`, empty or hidden parts, and reads under `images/` only: manifest.json never leaks.
      const image = await datasets.openImage(id, rest)
      if (!image) throw notFound()
      return reply
        .type(IMAGE_TYPES[path.extname(rest).toLowerCase()] ?? 'application/octet-stream')
        .header('cache-control', IMMUTABLE)
        .header('x-content-type-options', 'nosniff')
        .header('content-length', image.size)
        .send(image.body)
    },
  )
}

export default datasetImageRoutes
