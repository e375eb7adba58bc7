import { randomUUID } from 'node:crypto'
import multipart from '@fastify/multipart'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify from 'fastify'
import type { Config } from '../config.js'
import type { Logger } from '../logger.js'
import type { Metrics } from '../metrics/registry.js'
import auth from './plugins/auth.js'
import drain from './plugins/drain.js'
import errorHandler from './plugins/error-handler.js'
import modelReadiness from './plugins/model-readiness.js'
import metrics from './plugins/metrics.js'
import openapi from './plugins/openapi.js'
import projects from './plugins/projects.js'
import rateLimit from './plugins/rate-limit.js'
import services from './plugins/services.js'
import uploadSlots from './plugins/upload-slots.js'
import baseRoutes from './routes/bases.js'
import datasetImageRoutes from './routes/dataset-images.js'
import datasetRoutes from './routes/datasets.js'
import docsRoutes from './routes/docs.js'
import healthRoutes from './routes/health.js'
import jobRoutes from './routes/jobs.js'
import modelRoutes from './routes/models.js'
import predictRoutes from './routes/predict.js'
import projectRoutes from './routes/projects.js'
import uiRoutes from './routes/ui.js'

/**
 * Builds the API without starting it; `main.ts` listens, tests inject. Plugins and routes are registered by
 * hand rather than autoloaded: the list is short and the types stay checked.
 * @param opts.metrics the process's registry when something else counts into it too (`npm start`'s embedded worker,
 *   started before the API); by default the app makes its own
 */
export async function buildApp(config: Config, logger: Logger, opts: { metrics?: Metrics } = {}) {
  const app = Fastify({
    loggerInstance: logger,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Unknown fields are an error, not something to strip silently.
    // allowUnionTypes: option groups are `type: ['object', 'null']` (see schemas/jobs.ts).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allowUnionTypes: true } },
    bodyLimit: config.MAX_IMAGE_BYTES,
  }).withTypeProvider<TypeBoxTypeProvider>()

  // No route takes text; without this parser a text body is 415, not a string that fails validation as 400.
  app.removeContentTypeParser('text/plain')
  // JSON bodies get their own small limit; bodyLimit above is sized for raw images.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: config.MAX_JSON_BYTES }, app.getDefaultJsonParser('error', 'error'))

  // Every answer names its request, so a caller can quote it and an operator can find it in the logs (reqId).
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  await app.register(errorHandler)
  await app.register(drain)
  await app.register(projects, { config })
  await app.register(auth, { config })
  await app.register(rateLimit, { config })
  await app.register(uploadSlots, { config })
  await app.register(multipart, { limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 16, fields: 8, parts: 32 } })
  try {
    await app.register(services, { config })
  } catch (err) {
    // A start refused here (a missing bucket) must not leave the connections opened above behind.
    await app.close().catch(() => undefined)
    throw err
  }
  await app.register(modelReadiness)
  await app.register(openapi)
  await app.register(metrics, { metrics: opts.metrics })
  await app.register(healthRoutes)
  await app.register(datasetRoutes)
  await app.register(datasetImageRoutes)
  await app.register(baseRoutes)
  await app.register(jobRoutes)
  await app.register(modelRoutes)
  await app.register(predictRoutes)
  await app.register(projectRoutes)
  await app.register(docsRoutes)
  await app.register(uiRoutes)
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
