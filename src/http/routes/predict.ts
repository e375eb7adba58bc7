import { performance } from 'node:perf_hooks'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyContextConfig, FastifyRequest } from 'fastify'
import type { Static } from 'typebox'
import { AppError } from '../../errors.js'
import type { PredictionResult } from '../../services/predictions.js'
import { asMultipartError } from '../multipart-errors.js'
import { errorResponses } from '../schemas/common.js'
import { PredictJsonBodySchema, PredictQuerySchema, PredictResponseSchema, PredictUrlQuerySchema } from '../schemas/predict.js'
import { PredictBodySchema } from '../schemas/documented-bodies.js'

const DEFAULT_TOP_K = 3
/** Predictions: a predict key, their own rate budget, and 409 MODEL_NOT_READY for a model still training. */
const PREDICT_ROUTE: FastifyContextConfig = { auth: ['predict'], rateLimitBucket: 'predict', modelReadiness: true, audit: false }
/** Room for the JSON around base64 images. */
const JSON_OVERHEAD_BYTES = 64 * 1024

/** Reads every `image` part of a multipart body, in order, each capped at the image size limit. */
async function multipartImages(request: FastifyRequest, maxBytes: number): Promise<Uint8Array[]> {
  const images: Uint8Array[] = []
  try {
    for await (const part of request.parts({ limits: { fileSize: maxBytes } })) {
      if (part.type !== 'file') continue
      if (part.fieldname !== 'image') throw new AppError('VALIDATION', `unexpected file field "${part.fieldname}"; send images as "image"`)
      const bytes = await part.toBuffer()
      images.push(bytes)
    }
  } catch (err) {
    throw asMultipartError(err)
  }
  if (images.length === 0) throw new AppError('VALIDATION', 'the multipart body holds no "image" file')
  return images
}

const predictRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app

  app.addContentTypeParser(/^image\/.+/, { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  /** Shapes a prediction: one image answers `predictions`, several `results`, in order. */
  function answer({ modelId, results }: PredictionResult, started: number) {
    const latencyMs = Math.round((performance.now() - started) * 10) / 10
    app.metrics.predictDuration.observe(latencyMs / 1000)
    app.metrics.predictBatch.observe(results.length)
    if (results.length === 1) return { model: modelId, predictions: results[0] ?? [], latencyMs }
    return { model: modelId, results: results.map((predictions) => ({ predictions })), latencyMs }
  }
  const options = (query: { topK?: number | undefined; threshold?: number | undefined }) => ({ topK: query.topK ?? DEFAULT_TOP_K, threshold: query.threshold ?? 0 })

  app.get(
    '/predict',
    {
      config: PREDICT_ROUTE,
      schema: {
        tags: ['predict'],
        operationId: 'predictUrl',
        summary: 'Classify an image by URL',
        description: 'The service fetches the image (http/https, size-limited, private and metadata addresses refused unless allow-listed) and answers the top-K labels.',
        querystring: PredictUrlQuerySchema,
        response: { 200: PredictResponseSchema, ...errorResponses },
      },
    },
    async (request) => {
      const started = performance.now()
      const { model, url } = request.query
      return answer(await request.services.predictions.predictUrl(model, url, options(request.query)), started)
    },
  )

  app.post(
    '/predict',
    {
      // Base64 in JSON takes 4/3 of the bytes; each image is still held to MAX_IMAGE_BYTES once decoded.
      bodyLimit: Math.ceil((config.MAX_IMAGE_BYTES * 4) / 3) + JSON_OVERHEAD_BYTES,
      config: PREDICT_ROUTE,
      schema: {
        tags: ['predict'],
        operationId: 'predict',
        summary: 'Classify uploaded images',
        description:
          'One image as the raw body (`image/jpeg`, `image/png`, `image/webp`) answers `predictions`; multipart with one or more `image` parts, or JSON `{"images": ["<base64>", …]}`, answers `results`, one per image in order (one image answers `predictions`).',
        querystring: PredictQuerySchema,
        // Fastify validates only the JSON form; the document lists every form.
        body: { content: { 'application/json': { schema: PredictJsonBodySchema } } },
        documentedBody: { content: { ...PredictBodySchema.content, 'application/json': { schema: PredictJsonBodySchema } } },
        response: { 200: PredictResponseSchema, ...errorResponses },
      },
    },
    async (request) => {
      const started = performance.now()
      let images: Uint8Array[]
      if (request.isMultipart()) images = await multipartImages(request, config.MAX_IMAGE_BYTES)
      else if (Buffer.isBuffer(request.body)) images = [request.body]
      else if (request.headers['content-type']?.startsWith('application/json')) {
        images = (request.body as Static<typeof PredictJsonBodySchema>).images.map((b64) => Buffer.from(b64, 'base64'))
      } else {
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          'send the image as the raw body (image/jpeg, image/png, image/webp), as multipart "image" parts, or as JSON {"images": ["<base64>"]}',
        )
      }
      return answer(await request.services.predictions.predict(request.query.model, images, options(request.query)), started)
    },
  )
}

export default predictRoutes
