import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Starts a graceful stop before `close()`: `/readyz` answers 503 so a load balancer stops sending work, and every
     * response carries `connection: close` so clients drop their kept-alive connections. Requests already sent on such
     * a connection still arrive and are served; `close()` would otherwise reset those connections as idle.
     */
    beginDrain(): void
    readonly draining: boolean
  }
}

export default fp(
  async (app: FastifyInstance) => {
    let draining = false
    app.decorate('beginDrain', () => {
      draining = true
    })
    app.decorate('draining', {
      getter: () => draining,
    })
    app.addHook('onSend', async (_request, reply) => {
      if (draining) reply.header('connection', 'close')
    })
  },
  { name: 'drain' },
)
