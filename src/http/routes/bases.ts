import { rm } from 'node:fs/promises'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.js'
import type { Preprocessing } from '../../contract/jobs.js'
import { isBaseName } from '../../storage/bases.js'
import { asMultipartError } from '../multipart-errors.js'
import type { UploadIdle } from '../plugins/upload-slots.js'
import { saveUpload } from '../save-upload.js'
import { BaseListSchema, BaseNameParamsSchema, UploadedBaseSchema } from '../schemas/bases.js'
import { errorResponses, NoContentSchema, uploadTimeoutResponse } from '../schemas/common.js'
import { BaseUploadSchema } from '../schemas/documented-bodies.js'

const PREPROCESSING = new Set(['scale_0_1', 'scale_-1_1', 'raw_0_255'])

/** `POST /bases` (upload a tfjs model as a base), `GET /bases`, `DELETE /bases/:name`; scope train. */
const baseRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config, layout } = app

  app.post(
    '/bases',
    {
      config: { rateLimitBucket: 'uploads' },
      schema: {
        tags: ['bases'],
        operationId: 'uploadBase',
        summary: 'Upload a tfjs model as a base',
        description:
          'multipart/form-data: `name`, optional `featureLayer`, `inputSize`, `preprocessing`, then `file`, an archive of a tfjs LayersModel or GraphModel (model.json + weight files). The model must load and cut to a feature vector of a known input size, as a job will use it: a LayersModel at its last pooling/flatten layer or `featureLayer` (a 4-D output is mean-pooled), a GraphModel at the node `featureLayer` (mean-pooled; `inputSize` required when the graph does not fix it). 400 ARCHIVE_INVALID, 422 BASE_MODEL_INVALID with the reason, 409 BASE_EXISTS. It takes an upload slot like POST /datasets (429, and 408 after UPLOAD_IDLE_TIMEOUT_MS with nothing sent).',
        documentedBody: BaseUploadSchema,
        response: { 201: UploadedBaseSchema, ...errorResponses, 408: uploadTimeoutResponse },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send multipart/form-data with the model archive in a field named "file"')
      return app.withUploadSlot(request, reply, (idle) => receive(request, reply, idle))
    },
  )

  /** Receives, checks and stores one uploaded base inside its upload slot. */
  async function receive(request: FastifyRequest, reply: FastifyReply, idle: UploadIdle) {
    const part = await request.file({ limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 1 } }).catch((err: unknown) => {
      throw asMultipartError(err)
    })
    if (!part || part.fieldname !== 'file') throw new AppError('VALIDATION', 'the multipart body needs the model archive in a field named "file", after the other fields')
    const field = (key: string) => {
      const value = part.fields[key]
      return value && 'value' in value && typeof value.value === 'string' && value.value.trim() ? value.value.trim() : undefined
    }
    const name = field('name')
    if (!name || !isBaseName(name)) throw new AppError('VALIDATION', 'field "name" must match ^[a-z0-9][a-z0-9_-]{0,63}$ and come before "file"')
    const inputSize = field('inputSize')
    if (inputSize !== undefined && !/^[0-9]{2,4}$/.test(inputSize)) throw new AppError('VALIDATION', 'field "inputSize" must be a whole number of pixels')
    const preprocessing = field('preprocessing')
    if (preprocessing !== undefined && !PREPROCESSING.has(preprocessing)) throw new AppError('VALIDATION', `field "preprocessing" must be one of ${[...PREPROCESSING].join(', ')}`)

    const upload = await saveUpload(part, layout.uploads, '.base', config.MAX_UPLOAD_BYTES)
    idle.stop()
    try {
      const stored = await request.services.bases.upload(upload, {
        name,
        featureLayer: field('featureLayer'),
        inputSize: inputSize ? Number(inputSize) : undefined,
        preprocessing: preprocessing as Preprocessing | undefined,
      })
      request.log.info({ base: stored.name, kind: stored.kind, featureSize: stored.featureSize }, 'base stored')
      reply.code(201).header('location', `/bases/${stored.name}`)
      return stored
    } finally {
      await rm(upload, { force: true }).catch((err: unknown) => request.log.warn({ err, upload }, 'upload not removed'))
    }
  }

  app.get('/bases', { schema: { tags: ['bases'], operationId: 'listBases', summary: 'List bases', description: 'The bundled bases by name, and the uploaded ones with their input size, feature layer and size.', response: { 200: BaseListSchema } } }, async (request) =>
    request.services.bases.list(),
  )

  app.delete('/bases/:name', { schema: { tags: ['bases'], operationId: 'deleteBase', summary: 'Delete an uploaded base', description: '409 BASE_IN_USE while a queued or running job trains on it. Models trained on it stay: they hold their own copy of the trunk.', params: BaseNameParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } }, async (request, reply) => {
    await request.services.bases.remove(request.params.name)
    return reply.code(204).send(null)
  })
}

export default baseRoutes
