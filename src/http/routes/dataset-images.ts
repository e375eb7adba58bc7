import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { safeJoin } from '../../storage/layout.js'
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
  const { layout } = app
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
      // No `..`, empty or hidden parts (staging folders, dot files are never images); safeJoin, rooted at the
      // images folder, would refuse an escape anyway, so manifest.json can never be read through here.
      if (rest.split('/').some((part) => part === '' || part.startsWith('.'))) throw notFound()
      const file = safeJoin(safeJoin(layout.datasets, id, 'images'), rest)
      const info = await stat(file).catch(() => undefined)
      if (!info?.isFile()) throw notFound()
      return reply
        .type(IMAGE_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream')
        .header('cache-control', IMMUTABLE)
        .header('x-content-type-options', 'nosniff')
        .header('content-length', info.size)
        .send(createReadStream(file))
    },
  )
}

export default datasetImageRoutes
