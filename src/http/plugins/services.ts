import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { initBackend } from '../../ml/backend.js'
import { createPredictor, type Predictor } from '../../ml/predictor.js'
import { createTrainingQueue, type TrainingQueue } from '../../queue/producer.js'
import { createJobEnd, type EndedJob } from '../../services/job-end.js'
import { createAliasStore, type AliasStore } from '../../storage/aliases.js'
import { createCheckpointStore, type CheckpointStore } from '../../storage/checkpoints.js'
import { createBaseStore, type BaseStore } from '../../storage/bases.js'
import { createDatasetStore, type DatasetStore } from '../../storage/datasets.js'
import { dataLayout, type DataLayout } from '../../storage/layout.js'
import { createModelStore, type ModelStore } from '../../storage/models.js'
import { openStores, type Stores } from '../../storage/open-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    layout: DataLayout
    /** The shared store (DATA_DIR or the S3 bucket) and this process's own disk. */
    stores: Stores
    datasets: DatasetStore
    checkpoints: CheckpointStore
    models: ModelStore
    aliases: AliasStore
    bases: BaseStore
    predictor: Predictor
    trainingQueue: TrainingQueue
    /** Job-end handling for a job the API ends itself (cancelled while queued). */
    jobEnd: (job: EndedJob) => Promise<void>
  }
}

/** Everything the routes talk to, built once per app and closed with it. */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts
    // Predictions run on the same backend choice as training: fastest that loads, or IMAGETUNE_BACKEND.
    const backend = await initBackend(config.IMAGETUNE_BACKEND)
    app.log.info({ backend: backend.name, reason: backend.reason }, 'tfjs backend chosen')
    const layout = dataLayout(config.DATA_DIR)
    // A missing bucket stops the start here, naming it; an unreachable store only makes /readyz fail.
    const stores = await openStores(config, { verify: true })
    const models = createModelStore(stores.shared)
    app.decorate('config', config)
    app.decorate('layout', layout)
    app.decorate('stores', stores)
    app.decorate('datasets', createDatasetStore(layout, stores.shared))
    app.decorate('checkpoints', createCheckpointStore(stores.shared))
    app.decorate('models', models)
    app.decorate('aliases', createAliasStore(stores.shared, { cacheMs: config.ALIAS_CACHE_MS }))
    app.decorate('bases', createBaseStore(stores, layout.bases))
    app.decorate(
      'predictor',
      createPredictor({
        models,
        maxPixels: config.MAX_IMAGE_PIXELS,
        maxLoaded: config.PREDICT_MAX_LOADED,
        maxBatch: config.PREDICT_MAX_BATCH,
        maxDelayMs: config.PREDICT_MAX_DELAY_MS,
        // tfjs-node already spreads one op over all cores (and a GPU wants one owner): threads are for wasm and cpu.
        threads:
          config.PREDICT_THREADS > 0 && (backend.name === 'wasm' || backend.name === 'cpu')
            ? { count: config.PREDICT_THREADS, backend: backend.name }
            : undefined,
      }),
    )
    app.decorate('trainingQueue', createTrainingQueue({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, retentionSeconds: config.JOB_RETENTION_SECONDS, log: app.log }))
    app.decorate('jobEnd', createJobEnd({ checkpoints: app.checkpoints, notifyWebhook: (delivery) => app.trainingQueue.notifyWebhook(delivery), log: app.log }))
    app.addHook('onClose', async () => {
      await app.trainingQueue.close()
      await app.predictor.close()
      stores.shared.close()
    })
  },
  { name: 'services' },
)
