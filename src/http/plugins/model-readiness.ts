import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route serves the model named by its `model` query parameter: one still training is 409 MODEL_NOT_READY. */
    modelReadiness?: boolean
  }
}

/**
 * Routes marked `modelReadiness` answer 409 MODEL_NOT_READY for a model still training, before their body is read
 * (see `PredictionService.checkReady`).
 */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('preHandler', async (request) => {
      if (!request.routeOptions.config.modelReadiness) return
      const model = (request.query as { model?: string }).model
      if (!model) return
      await request.services.predictions.checkReady(model)
    })
  },
  { name: 'model-readiness', dependencies: ['services'] },
)
