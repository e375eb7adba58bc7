/** `npm run worker`: a training worker on its own, for more workers on the same Redis and DATA_DIR. */
import { loadConfig } from '../src/config.js'
import { createLogger } from '../src/logger.js'
import { createMetrics } from '../src/metrics/registry.js'
import { serveMetrics } from '../src/metrics/serve.js'
import { onShutdown } from '../src/shutdown.js'
import { openStores } from '../src/storage/open-store.js'
import { StorageConfigError } from '../src/storage/storage-url.js'
import { startTrainWorker } from './worker.js'

/** A stopping worker exits by then even if a job does not let go (it is then recovered as stalled), ms. */
const SHUTDOWN_DEADLINE_MS = 25_000

const config = loadConfig()
const log = createLogger(config.LOG_LEVEL, 'worker')
// A missing bucket (or a malformed STORAGE_URL) stops the worker now, naming it, instead of failing every job.
try {
  ;(await openStores(config, { verify: true })).shared.close()
} catch (err) {
  if (!(err instanceof StorageConfigError)) throw err
  console.error(`imagetune worker: ${err.message}`)
  process.exit(1)
}
const metrics = createMetrics()
const worker = await startTrainWorker(config, log, metrics)
const metricsServer = config.WORKER_METRICS_PORT ? await serveMetrics(metrics.registry, config.WORKER_METRICS_PORT, config.HOST) : undefined
log.info({ queue: worker.worker.name, name: worker.name, concurrency: config.WORKER_CONCURRENCY, metricsPort: config.WORKER_METRICS_PORT || null }, 'worker ready')

onShutdown(log, SHUTDOWN_DEADLINE_MS, async () => {
  log.info('worker stopping: running jobs go back to the queue')
  metricsServer?.close()
  await worker.shutdown()
  log.info('worker stopped')
})
