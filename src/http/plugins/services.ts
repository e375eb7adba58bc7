import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { DEFAULT_PROJECT_ID } from '../../contract/projects.js'
import { initBackend } from '../../ml/backend.js'
import { createPredictor, type Predictor } from '../../ml/predictor.js'
import { createTrainingQueue, type TrainingQueue } from '../../queue/producer.js'
import { createBaseService, type BaseService } from '../../services/bases.js'
import { createDatasetService, type DatasetService } from '../../services/datasets.js'
import { createJobEnd } from '../../services/job-end.js'
import { createModelService, type ModelService } from '../../services/models.js'
import { createPredictionService, type PredictionService } from '../../services/predictions.js'
import { createTrainingService, type TrainingService } from '../../services/training.js'
import { dataLayout, type DataLayout } from '../../storage/layout.js'
import { openStores, type Stores } from '../../storage/open-store.js'
import { createProjectModelStore } from '../../storage/project-models.js'
import { repositoriesFor } from '../../storage/repositories.js'

/** The use cases of one project, what routes call. */
export interface Services {
  datasets: DatasetService
  training: TrainingService
  models: ModelService
  predictions: PredictionService
  bases: BaseService
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    layout: DataLayout
    /** The shared store (DATA_DIR or the S3 bucket) and this process's own disk. */
    stores: Stores
    /** One per process: model ids are UUIDs, and the predictions service checks a model's project. */
    predictor: Predictor
    trainingQueue: TrainingQueue
    /** The services of a project, built on its first use and kept. */
    servicesFor(projectId: string): Services
  }
  interface FastifyRequest {
    /** The project the request acts in. */
    projectId: string
    /** `servicesFor(projectId)`: the only way a route reaches data. */
    services: Services
  }
}

/** The process's stores, queue and predictor, and the per-project services built on them; closed with the app. */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts
    // Predictions run on the same backend choice as training: fastest that loads, or IMAGETUNE_BACKEND.
    const backend = await initBackend(config.IMAGETUNE_BACKEND)
    app.log.info({ backend: backend.name, reason: backend.reason }, 'tfjs backend chosen')
    const layout = dataLayout(config.DATA_DIR)
    // A missing bucket stops the start here, naming it; an unreachable store only makes /readyz fail.
    const stores = await openStores(config, { verify: true })
    const predictor = createPredictor({
      // Every project's models, by the qualified ids the services hand it (storage/project-models.ts).
      models: createProjectModelStore(stores.shared),
      maxPixels: config.MAX_IMAGE_PIXELS,
      maxLoaded: config.PREDICT_MAX_LOADED,
      maxBatch: config.PREDICT_MAX_BATCH,
      maxDelayMs: config.PREDICT_MAX_DELAY_MS,
      // tfjs-node already spreads one op over all cores (and a GPU wants one owner): threads are for wasm and cpu.
      threads:
        config.PREDICT_THREADS > 0 && (backend.name === 'wasm' || backend.name === 'cpu')
          ? { count: config.PREDICT_THREADS, backend: backend.name }
          : undefined,
    })
    const queue = createTrainingQueue({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, retentionSeconds: config.JOB_RETENTION_SECONDS, log: app.log })

    const built = new Map<string, Services>()
    function servicesFor(projectId: string): Services {
      let services = built.get(projectId)
      if (services) return services
      // Kept per project: the alias repository caches what it read (ALIAS_CACHE_MS), the predictions service which
      // models it has seen.
      const repos = repositoriesFor(stores, projectId, { layout, aliasCacheMs: config.ALIAS_CACHE_MS })
      const bases = createBaseService({
        projectId,
        bases: repos.bases,
        queue,
        basesDir: layout.bases,
        limits: { maxInflatedBytes: config.MAX_DATASET_INFLATED_BYTES, maxFileBytes: config.MAX_UPLOAD_BYTES },
        localUrls: config.API_KEYS === '',
      })
      const jobEnd = createJobEnd({ checkpoints: repos.checkpoints, notifyWebhook: (delivery) => queue.notifyWebhook(delivery), log: app.log })
      services = {
        datasets: createDatasetService({ projectId, datasets: repos.datasets, queue, limits: config, quotas: app.quotas }),
        training: createTrainingService({ projectId, datasets: repos.datasets, bases, queue, jobEnd, quotas: app.quotas, config, localUrls: config.API_KEYS === '' }),
        models: createModelService({ projectId, models: repos.models, aliases: repos.aliases, predictor }),
        predictions: createPredictionService({ projectId, models: repos.models, aliases: repos.aliases, predictor, queue, config }),
        bases,
      }
      built.set(projectId, services)
      return services
    }

    app.decorate('config', config)
    app.decorate('layout', layout)
    app.decorate('stores', stores)
    app.decorate('predictor', predictor)
    app.decorate('trainingQueue', queue)
    app.decorate('servicesFor', servicesFor)
    app.decorateRequest('projectId', '')
    app.decorateRequest('services', null as unknown as Services)
    // After auth's hook: the key names the project (open routes and open mode act in `default`).
    app.addHook('onRequest', async (request) => {
      request.projectId = request.principal?.projectId ?? DEFAULT_PROJECT_ID
      request.services = servicesFor(request.projectId)
    })
    app.addHook('onClose', async () => {
      await queue.close()
      await predictor.close()
      stores.shared.close()
    })
  },
  { name: 'services', dependencies: ['auth', 'projects'] },
)
