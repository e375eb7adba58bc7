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

/** Page size of the gallery listing when the caller names none, and the most it may ask for. */
const GALLERY_LIMIT = { default: 60, max: 200 } as const

/**
 * A gallery cursor is the offset of the next image in the (class-filtered) manifest order, base64url-encoded:
 * a dataset never changes once published, so an offset stays valid for as long as the dataset exists.
 */
const encodeCursor = (offset: number) => Buffer.from(`o:${offset}`).toString('base64url')
function decodeCursor(cursor: string): number {
  const match = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (!match) throw new AppError('VALIDATION', 'cursor is not one this server gave out (use nextCursor of the previous page)')
  return Number(match[1])
}

/** `images/cats/001.png` of dataset `d` → `/datasets/d/images/cats/001.png`, each segment URL-encoded. */
const imageUrl = (id: string, imagePath: string) => `/datasets/${id}/${imagePath.split('/').map(encodeURIComponent).join('/')}`

const GalleryQuerySchema = Type.Object(
  {
    class: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'only the images of this class' })),
    cursor: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: GALLERY_LIMIT.max, default: GALLERY_LIMIT.default })),
  },
  { additionalProperties: false },
)
const GalleryItemSchema = Type.Object({
  path: Type.String({ description: 'manifest path, `images/<class>/<file>`: what revisions, label issues and duplicates name' }),
  label: Type.String(),
  split: Type.Optional(Type.Union([Type.Literal('train'), Type.Literal('val')])),
  url: Type.String({ description: 'the image itself (GET, scope train)' }),
})

/**
 * `GET /datasets/:id/images/<class>/<file>`: one stored image, read-only (scope train), so the dashboard can show
 * the misclassified validation images a model's metrics name by dataset path (`images/<class>/<file>`).
 */
const datasetImageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/datasets/:id/images',
    {
      schema: {
        tags: ['datasets'],
        operationId: 'listDatasetImages',
        summary: 'Page through a dataset\'s images',
        description: 'The images in manifest order (class, then file), optionally of one class, a page at a time: pass `nextCursor` back as `cursor` until it is null. Each item has the URL of the image itself.',
        params: Type.Object({ id: IdSchema }),
        querystring: GalleryQuerySchema,
        response: { 200: Type.Object({ items: Type.Array(GalleryItemSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params
      const { class: label, cursor, limit = GALLERY_LIMIT.default } = request.query
      const images = await request.services.datasets.images(id, label)
      const start = cursor === undefined ? 0 : decodeCursor(cursor)
      const page = images.slice(start, start + limit)
      const end = start + page.length
      return {
        items: page.map((image) => ({ path: image.path, label: image.label, ...(image.split && { split: image.split }), url: imageUrl(id, image.path) })),
        nextCursor: end < images.length ? encodeCursor(end) : null,
      }
    },
  )
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
      const image = await request.services.datasets.openImage(id, rest)
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
