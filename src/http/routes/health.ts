import { access, constants, mkdir } from 'node:fs/promises'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const CheckSchema = Type.Object({ redis: Type.String(), storage: Type.String() })

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { tags: ['ops'], operationId: 'health', summary: 'Liveness', description: 'The process answers; checks nothing else.', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  /** Ready when Redis answers and DATA_DIR is writable; a load balancer stops sending work otherwise. */
  app.get(
    '/readyz',
    { schema: { tags: ['ops'], operationId: 'ready', summary: 'Readiness', description: 'Ready when Redis answers and DATA_DIR is writable; 503 with the failing check otherwise.', response: { 200: Type.Object({ status: Type.String(), checks: CheckSchema }), 503: Type.Object({ status: Type.String(), checks: CheckSchema }) } } },
    async (_request, reply) => {
      const redis = await app.trainingQueue.ping().then(() => 'ok', (err: Error) => err.message)
      const storage = await mkdir(app.layout.root, { recursive: true })
        .then(() => access(app.layout.root, constants.W_OK))
        .then(() => 'ok', (err: Error) => err.message)
      const ready = redis === 'ok' && storage === 'ok'
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: { redis, storage } })
    },
  )
}

export default healthRoutes
