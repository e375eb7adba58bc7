import { createHash, randomInt, randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import type { TrainModelJob } from '../../queue/jobs.js'
import { errorResponses, IdParamsSchema } from '../schemas/common.js'
import { CreateJobSchema, JobSchema, TRAIN_DEFAULTS, type CreateJob } from '../schemas/jobs.js'

const IdempotencyHeadersSchema = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) })

/**
 * A retried POST with the same Idempotency-Key maps to the same BullMQ job id, and BullMQ adds a job id only
 * once, so the retry answers with the first job.
 */
function jobIdFor(idempotencyKey: string | undefined): string {
  return idempotencyKey ? `k-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}` : randomUUID()
}

function trainOptions(body: CreateJob): TrainModelJob['options'] {
  return {
    epochs: body.epochs ?? TRAIN_DEFAULTS.epochs,
    batchSize: body.batchSize ?? TRAIN_DEFAULTS.batchSize,
    learningRate: body.learningRate ?? TRAIN_DEFAULTS.learningRate,
    validationSplit: body.validationSplit ?? TRAIN_DEFAULTS.validationSplit,
    // Recorded in the job, so any run can be repeated exactly.
    seed: body.seed ?? randomInt(2 ** 31 - 1),
  }
}

const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { trainingQueue, datasets, config } = app

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'createJob',
        summary: 'Queue a training job',
        description:
          'Trains a classifier head on the dataset with the chosen base model. Omitted options take the defaults shown; a random seed is recorded. A retry with the same `Idempotency-Key` answers with the first job. Poll `Location` for progress.',
        body: CreateJobSchema,
        headers: IdempotencyHeadersSchema,
        response: { 202: JobSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { body } = request
      if (!(await datasets.get(body.datasetId))) throw new AppError('DATASET_NOT_FOUND', `no dataset ${body.datasetId}`)
      const jobId = jobIdFor(request.headers['idempotency-key'])
      const owner = request.principal.id
      // A retry of a job already queued is answered with it, quota or not.
      const retry = request.headers['idempotency-key'] !== undefined && (await trainingQueue.get(jobId)) !== undefined
      if (!retry && (await trainingQueue.countUnfinished(owner)) >= config.MAX_QUEUED_JOBS_PER_KEY) {
        throw new AppError('TOO_MANY_QUEUED_JOBS', `${config.MAX_QUEUED_JOBS_PER_KEY} jobs of yours are queued or running already`, {
          limit: 'MAX_QUEUED_JOBS_PER_KEY',
          max: config.MAX_QUEUED_JOBS_PER_KEY,
        })
      }
      const job = await trainingQueue.enqueue(jobId, {
        modelId: jobId,
        owner,
        datasetId: body.datasetId,
        baseModel: body.baseModel ?? 'mobilenet_v2',
        options: trainOptions(body),
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
        tags: ['jobs'],
        operationId: 'listJobs',
        summary: 'List jobs',
        description: 'The newest jobs first, in every state.',
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ jobs: Type.Array(JobSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ jobs: await trainingQueue.list(request.query.limit ?? 50) }),
  )

  app.get('/jobs/:id', { schema: { tags: ['jobs'], operationId: 'getJob', summary: 'Get a job', description: 'Status, phase, progress with ETA, per-epoch history and, once completed, the model id and metrics.', params: IdParamsSchema, response: { 200: JobSchema, ...errorResponses } } }, async (request) => {
    const { id } = request.params
    const job = await trainingQueue.get(id)
    if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
    return job
  })
}

export default jobRoutes
