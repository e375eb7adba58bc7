import { performance } from 'node:perf_hooks'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { AppError } from '../../errors.js'
import { fetchImage } from '../fetch-image.js'
import { errorResponses } from '../schemas/common.js'
import { PredictBodySchema } from '../schemas/documented-bodies.js'
import { PredictQuerySchema, PredictResponseSchema, PredictUrlQuerySchema } from '../schemas/predict.js'

const DEFAULT_TOP_K = 3

/** Reads every `image` part of a multipart body, in order, each capped at the image size limit. */
async function multipartImages(request: FastifyRequest, maxBytes: number): Promise<Uint8Array[]> {
  const images: Uint8Array[] = []
  for await (const part of request.parts({ limits: { fileSize: maxBytes } })) {
    if (part.type !== 'file') continue
    if (part.fieldname !== 'image') throw new AppError('VALIDATION', `unexpected file field "${part.fieldname}"; send images as "image"`)
    const bytes = await part.toBuffer()
    images.push(bytes)
  }
  if (images.length === 0) throw new AppError('VALIDATION', 'the multipart body holds no "image" file')
  return images
}

const predictRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config, predictor } = app

  app.addContentTypeParser(/^image\/.+/, { parseAs: 'buffer', bodyLimit: config.MAX_IMAGE_BYTES }, (_request, body, done) => done(null, body))

  async function answer(modelId: string, images: Uint8Array[], topK: number, started: number) {
    const results = await predictor.predict(modelId, images, topK)
    const latencyMs = Math.round((performance.now() - started) * 10) / 10
    app.metrics.predictDuration.observe(latencyMs / 1000)
    app.metrics.predictBatch.observe(images.length)
    if (results.length === 1) return { model: modelId, predictions: results[0] ?? [], latencyMs }
    return { model: modelId, results: results.map((predictions) => ({ predictions })), latencyMs }
  }

  app.get('/predict', { schema: { tags: ['predict'], operationId: 'predictUrl', summary: 'Classify an image by URL', description: 'The service fetches the image (http/https, size-limited) and answers the top-K labels.', querystring: PredictUrlQuerySchema, response: { 200: PredictResponseSchema, ...errorResponses } } }, async (request) => {
    const started = performance.now()
    const { model, url, topK } = request.query
    const image = await fetchImage(url, config.MAX_IMAGE_BYTES)
    return answer(model, [image], topK ?? DEFAULT_TOP_K, started)
  })

  app.post('/predict', { schema: { tags: ['predict'], operationId: 'predict', summary: 'Classify uploaded images', description: 'One image as the raw body (`image/jpeg`, `image/png`, `image/webp`) answers `predictions`; multipart with one or more `image` parts answers `results`, one per image in order.', documentedBody: PredictBodySchema, querystring: PredictQuerySchema, response: { 200: PredictResponseSchema, ...errorResponses } } }, async (request) => {
    const started = performance.now()
    const { model, topK } = request.query
    let images: Uint8Array[]
    if (request.isMultipart()) images = await multipartImages(request, config.MAX_IMAGE_BYTES)
    else if (Buffer.isBuffer(request.body)) images = [request.body]
    else throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the image as the raw body (image/jpeg, image/png, image/webp) or as multipart "image" parts')
    if (images.some((image) => image.byteLength === 0)) throw new AppError('IMAGE_INVALID', 'an image is empty')
    return answer(model, images, topK ?? DEFAULT_TOP_K, started)
  })
}

export default predictRoutes
