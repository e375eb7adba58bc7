import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import { OPEN_ROUTE } from '../plugins/auth.js'

/**
 * A failed check as this open route says it: `unavailable` and the cause's code (ECONNREFUSED, InvalidAccessKeyId,
 * EACCES), never the message, which names hosts, endpoints and buckets; the log has it whole.
 */
function failed(err: unknown): string {
  const details = err instanceof AppError ? (err.details as { cause?: unknown; errno?: unknown } | undefined) : undefined
  const cause = details?.cause ?? details?.errno
  return typeof cause === 'string' ? `unavailable (${cause})` : 'unavailable'
}

const CheckSchema = Type.Object({ redis: Type.String({ description: '`ok`, or `unavailable` (the log says why)' }), storage: Type.String({ description: '`ok`, or `unavailable (<cause>)`: ECONNREFUSED, InvalidAccessKeyId, EACCES…' }), store: Type.Union([Type.Literal('local'), Type.Literal('s3')], { description: 'The kind of store: DATA_DIR (`local`) or a bucket (`s3`); never where it is, this route being open' }) })

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { config: OPEN_ROUTE, schema: { tags: ['ops'], operationId: 'health', summary: 'Liveness', description: 'The process answers; checks nothing else.', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  /** Ready when Redis answers and the store works; a load balancer stops sending work otherwise. */
  app.get(
    '/readyz',
    { config: OPEN_ROUTE, schema: { tags: ['ops'], operationId: 'ready', summary: 'Readiness', description: 'Ready when Redis answers and the store works (DATA_DIR takes a write, or the S3 bucket answers with these credentials); 503 with the failing check and the code of its cause otherwise (the log has the whole message), and `draining` once the process is stopping. `store` names the kind of store.', response: { 200: Type.Object({ status: Type.String(), checks: CheckSchema }), 503: Type.Object({ status: Type.String(), checks: CheckSchema }) } } },
    async (request, reply) => {
      const check = (what: string) => (err: unknown) => {
        request.log.warn({ err }, `readiness: ${what} unavailable`)
        return failed(err)
      }
      const redis = await app.trainingQueue.ping().then(() => 'ok', check('redis'))
      const { shared } = app.stores
      const storage = await shared.probe().then(() => 'ok', check('storage'))
      const ready = redis === 'ok' && storage === 'ok' && !app.draining
      const status = app.draining ? 'draining' : ready ? 'ready' : 'unavailable'
      return reply.code(ready ? 200 : 503).send({ status, checks: { redis, storage, store: shared.remote ? 's3' : 'local' } })
    },
  )
}

export default healthRoutes
