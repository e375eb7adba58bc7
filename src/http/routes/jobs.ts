import { createHash, randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { errorResponses, IdParamsSchema } from '../schemas/common.js'
import { CreateJobSchema, JobSchema, trainOptions } from '../schemas/jobs.js'

const IdempotencyHeadersSchema = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) })

/**
 * A retried POST with the same Idempotency-Key maps to the same BullMQ job id, and BullMQ adds a job id only
 * once, so the retry answers with the first job.
 */
function jobIdFor(idempotencyKey: string | undefined): string {
  return idempotencyKey ? `k-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}` : randomUUID()
}

const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { trainingQueue, datasets } = app

  app.post(
    '/jobs',
    { schema: { body: CreateJobSchema, headers: IdempotencyHeadersSchema, response: { 202: JobSchema, ...errorResponses } } },
    async (request, reply) => {
      const { body } = request
      const dataset = await datasets.get(body.datasetId)
      if (!dataset) throw new AppError('DATASET_NOT_FOUND', `no dataset ${body.datasetId}`)
      const jobId = jobIdFor(request.headers['idempotency-key'])
      const job = await trainingQueue.enqueue(jobId, {
        modelId: randomUUID(),
        datasetId: body.datasetId,
        baseModel: body.baseModel ?? 'mobilenet_v2',
        options: trainOptions(body, dataset.classes.map((c) => c.name)),
        requestId: request.id,
      })
      request.log.info({ jobId: job.id, datasetId: body.datasetId }, 'training job queued')
      return reply.code(202).header('location', `/jobs/${job.id}`).send(job)
    },
  )

  app.get(
    '/jobs',
    {
      schema: {
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ jobs: Type.Array(JobSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ jobs: await trainingQueue.list(request.query.limit ?? 50) }),
  )

  app.get('/jobs/:id', { schema: { params: IdParamsSchema, response: { 200: JobSchema, ...errorResponses } } }, async (request) => {
    const { id } = request.params
    const job = await trainingQueue.get(id)
    if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
    return job
  })
}

export default jobRoutes
