import { createHash, randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { builtinBaseNames } from '../../services/bases.js'
import { CURSOR_PATTERN } from '../../queue/job-index.js'
import { DEFAULT_BASE_MODEL, PRIORITY } from '../../queue/jobs.js'
import { streamJobEvents } from '../job-event-stream.js'
import { parseAllowList, systemResolver } from '../../net/ssrf-guard.js'
import { checkWebhookUrl } from '../../net/webhook-url.js'
import { errorResponses, IdParamsSchema } from '../schemas/common.js'
import { CreateJobSchema, JobSchema, trainOptions } from '../../contract/jobs.js'

const JobStatusSchema = Type.Union([Type.Literal('queued'), Type.Literal('active'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')])

const IdempotencyHeadersSchema = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) })

/**
 * A retried POST with the same Idempotency-Key maps to the same BullMQ job id (per caller: keys of different callers
 * never meet), and BullMQ adds a job id only once, so the retry answers with the first job.
 */
function jobIdFor(idempotencyKey: string | undefined, owner: string): string {
  return idempotencyKey ? `k-${createHash('sha256').update(`${owner}\n${idempotencyKey}`).digest('hex').slice(0, 40)}` : randomUUID()
}

/** The body's fingerprint, independent of key order: a retry must send the same request. */
function requestHash(body: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
        : value
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest('hex')
}

const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { trainingQueue, datasets, config } = app
  const webhookCheck = { allowHosts: parseAllowList(config.WEBHOOK_URL_ALLOWLIST), resolve: systemResolver }
  // Open event streams end before the server closes, or close() would wait for their clients.
  const streams = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end()
  })

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'createJob',
        summary: 'Queue a training job',
        description:
          'Trains a classifier head on the dataset with the chosen base model. Omitted options take the defaults shown; a random seed is recorded. A retry with the same `Idempotency-Key` and body answers with the first job as it stands (same id, options and `queuedAt`); the same key with a different body is 422 `IDEMPOTENCY_KEY_REUSED`. Poll `Location` for progress.',
        body: CreateJobSchema,
        headers: IdempotencyHeadersSchema,
        response: { 202: JobSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { body } = request
      const dataset = await datasets.get(body.datasetId)
      if (!dataset) throw new AppError('DATASET_NOT_FOUND', `no dataset ${body.datasetId}`)
      if (typeof body.baseModel === 'string' && !builtinBaseNames().includes(body.baseModel)) {
        const uploaded = await app.bases.get(body.baseModel)
        if (!uploaded) throw new AppError('BASE_NOT_FOUND', `no base '${body.baseModel}': a built-in (${builtinBaseNames().join(', ')}) or one uploaded with POST /bases`)
        if (uploaded.kind === 'graph' && (body.fineTuneLayers ?? 0) > 0) {
          throw new AppError('OPTIONS_INVALID', `base '${body.baseModel}' is a GraphModel: head-only training, fineTuneLayers must be 0`)
        }
      }
      if (body.webhook) await checkWebhookUrl(body.webhook.url, webhookCheck)
      const owner = request.principal.id
      const idempotencyKey = request.headers['idempotency-key']
      const jobId = jobIdFor(idempotencyKey, owner)
      // A retry of a job already queued is answered with it, quota or not.
      const retry = idempotencyKey !== undefined && (await trainingQueue.get(jobId)) !== undefined
      if (!retry && (await trainingQueue.countUnfinished(owner)) >= config.MAX_QUEUED_JOBS_PER_KEY) {
        throw new AppError('TOO_MANY_QUEUED_JOBS', `${config.MAX_QUEUED_JOBS_PER_KEY} jobs of yours are queued or running already`, {
          limit: 'MAX_QUEUED_JOBS_PER_KEY',
          max: config.MAX_QUEUED_JOBS_PER_KEY,
        })
      }
      const job = await trainingQueue.enqueue(
        jobId,
        {
          modelId: jobId,
          owner,
          datasetId: body.datasetId,
          baseModel: body.baseModel ?? DEFAULT_BASE_MODEL,
          options: trainOptions(body, dataset.classes.map((c) => c.name)),
          requestId: request.id,
          ...(body.webhook && { webhook: { url: body.webhook.url } }),
          ...(idempotencyKey !== undefined && { requestHash: requestHash(body) }),
        },
        body.priority ?? PRIORITY.default,
      )
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
        description: 'The newest jobs first, optionally of one status; page with `cursor` (the previous page\'s `nextCursor`).',
        querystring: Type.Object(
          {
            status: Type.Optional(JobStatusSchema),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            cursor: Type.Optional(Type.String({ pattern: CURSOR_PATTERN, description: 'nextCursor of the previous page.' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ jobs: Type.Array(JobSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
      },
    },
    async (request) => trainingQueue.list({ status: request.query.status, limit: request.query.limit ?? 50, cursor: request.query.cursor }),
  )

  app.get('/jobs/:id', { schema: { tags: ['jobs'], operationId: 'getJob', summary: 'Get a job', description: 'Status, phase, progress with ETA, per-epoch history and, once completed, the model id and metrics.', params: IdParamsSchema, response: { 200: JobSchema, ...errorResponses } } }, async (request) => {
    const { id } = request.params
    const job = await trainingQueue.get(id)
    if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
    return job
  })

  /**
   * A queued job is cancelled at once (200, status cancelled); a running one is asked to stop (202) and ends
   * `cancelled` within about a second, through whichever worker runs it. Cancelling a cancelled job answers 200
   * again; a completed or failed one is 409 JOB_FINISHED.
   */
  app.delete(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'cancelJob',
        summary: 'Cancel a job',
        description:
          'A queued job is cancelled at once (200, status `cancelled`); a running one is asked to stop (202) and ends `cancelled` within about a second, from any API replica. No model is registered. A finished job answers 409 `JOB_FINISHED`.',
        params: IdParamsSchema,
        response: { 200: JobSchema, 202: JobSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const { outcome, webhook } = await trainingQueue.cancel(id)
      const job = outcome === 'missing' ? undefined : await trainingQueue.get(id)
      if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
      if (outcome === 'finished' && job.status !== 'cancelled') throw new AppError('JOB_FINISHED', `job ${id} has already ${job.status === 'completed' ? 'completed' : 'failed'}`)
      // Cancelled while queued: no worker will see it end (one handed back by a stopping worker has a checkpoint).
      if (outcome === 'cancelled') await app.jobEnd({ id, webhook, outcome: 'cancelled' })
      request.log.info({ jobId: id, outcome }, 'job cancel')
      return reply.code(outcome === 'requested' ? 202 : 200).send(job)
    },
  )

  app.get(
    '/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'jobEvents',
        summary: 'Stream a job\'s progress (Server-Sent Events)',
        description:
          'One `progress` event with the job document per change, then one `completed`, `failed` or `cancelled` event, then the stream closes. Driven by Redis, so any API replica serves any job; reconnect with `Last-Event-ID`.',
        params: IdParamsSchema,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 64 })) }),
        response: {
          200: {
            description: '`progress` events with the job document, then `completed`, `failed` or `cancelled`; ids resume through Last-Event-ID.',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          204: Type.Null({ description: 'Resumed after the final event: nothing more will come.' }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      if (!(await trainingQueue.get(id))) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
      reply.hijack()
      let end: (() => void) | undefined
      const onEnd = () => void (end && streams.delete(end))
      try {
        end = await streamJobEvents({ queue: trainingQueue, jobId: id, lastEventId: request.headers['last-event-id'], res: reply.raw, onEnd })
      } catch (err) {
        request.log.error({ err }, 'job event stream failed')
        if (!reply.raw.headersSent) reply.raw.writeHead(503, { 'content-type': 'application/json' })
        reply.raw.end(JSON.stringify({ error: { code: 'QUEUE_UNAVAILABLE', message: 'the job queue is unavailable' } }))
        return
      }
      if (!reply.raw.writableEnded) streams.add(end)
    },
  )
}

export default jobRoutes
