import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route serves the model named by its `model` query parameter: one still training is 409 MODEL_NOT_READY. */
    modelReadiness?: boolean
  }
}

/**
 * A model id is its training job's id, so a prediction for a model that is not stored yet can say why: 409
 * MODEL_NOT_READY while its job is queued or running (instead of a 404 the client would give up on). Only
 * unknown models cost a lookup; a stored model, by id or alias, goes straight to the predictor, with or without Redis.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('preHandler', async (request) => {
      if (!request.routeOptions.config.modelReadiness) return
      const model = (request.query as { model?: string }).model
      if (!model) return
      // An alias (`model=prod`) names a stored model: resolved first. A stored model is known from the predictor's
      // metadata cache, the read its prediction needs anyway: no store read of its own and no Redis call.
      const modelId = await app.aliases.resolve(model)
      if (await app.predictor.has(modelId)) return
      // Redis down: the predictor answers MODEL_NOT_FOUND, which is true as far as this replica can tell.
      const job = await app.trainingQueue.get(modelId, request.principal.projectId).catch(() => undefined)
      if (job && (job.status === 'queued' || job.status === 'active')) {
        throw new AppError('MODEL_NOT_READY', `model ${modelId} is still training (job ${job.id} is ${job.status})`, {
          jobId: job.id,
          status: job.status,
          percent: job.progress.percent,
        })
      }
    })
  },
  { name: 'model-readiness', dependencies: ['services'] },
)
