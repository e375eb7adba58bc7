import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CURSOR_PATTERN } from '../../queue/job-index.js'
import { streamJobEvents } from '../job-event-stream.js'
import { errorResponses, IdParamsSchema } from '../schemas/common.js'
import { CreateJobSchema, JobSchema } from '../../contract/jobs.js'

const JobStatusSchema = Type.Union([Type.Literal('queued'), Type.Literal('active'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')])

const IdempotencyHeadersSchema = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) })

const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
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
      const job = await request.services.training.create(body, {
        owner: request.principal.id,
        requestId: request.id,
        idempotencyKey: request.headers['idempotency-key'],
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
    async (request) => request.services.training.list({ status: request.query.status, limit: request.query.limit ?? 50, cursor: request.query.cursor }),
  )

  app.get('/jobs/:id', { schema: { tags: ['jobs'], operationId: 'getJob', summary: 'Get a job', description: 'Status, phase, progress with ETA, per-epoch history and, once completed, the model id and metrics.', params: IdParamsSchema, response: { 200: JobSchema, ...errorResponses } } }, async (request) =>
    request.services.training.get(request.params.id),
  )

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
      const { outcome, job } = await request.services.training.cancel(id)
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
      const source = await request.services.training.events(id)
      reply.hijack()
      let end: (() => void) | undefined
      const onEnd = () => void (end && streams.delete(end))
      try {
        end = await streamJobEvents({ source, jobId: id, lastEventId: request.headers['last-event-id'], res: reply.raw, onEnd })
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
