import { randomUUID } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const CheckSchema = Type.Object({ redis: Type.String(), storage: Type.String() })

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { tags: ['ops'], operationId: 'health', summary: 'Liveness', description: 'The process answers; checks nothing else.', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  /** Ready when Redis answers and DATA_DIR takes a write; a load balancer stops sending work otherwise. */
  app.get(
    '/readyz',
    { schema: { tags: ['ops'], operationId: 'ready', summary: 'Readiness', description: 'Ready when Redis answers and DATA_DIR is writable; 503 with the failing check otherwise, and `draining` once the process is stopping.', response: { 200: Type.Object({ status: Type.String(), checks: CheckSchema }), 503: Type.Object({ status: Type.String(), checks: CheckSchema }) } } },
    async (_request, reply) => {
      const redis = await app.trainingQueue.ping().then(() => 'ok', (err: Error) => err.message)
      // A real write: permission bits say nothing to root, and a full or read-only disk only shows on write.
      const probe = path.join(app.layout.root, `.ready-${randomUUID()}`)
      const storage = await mkdir(app.layout.root, { recursive: true })
        .then(() => writeFile(probe, 'ok'))
        .then(() => rm(probe, { force: true }))
        .then(() => 'ok', (err: Error) => err.message)
      const ready = redis === 'ok' && storage === 'ok' && !app.draining
      const status = app.draining ? 'draining' : ready ? 'ready' : 'unavailable'
      return reply.code(ready ? 200 : 503).send({ status, checks: { redis, storage } })
    },
  )
}

export default healthRoutes
