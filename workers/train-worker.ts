/** `npm run worker`: a training worker on its own, for more workers on the same Redis and DATA_DIR. */
import { loadConfig } from '../src/config.js'
import { createLogger } from '../src/logger.js'
import { observeJobs } from '../src/metrics/job-metrics.js'
import { createMetrics } from '../src/metrics/registry.js'
import { serveMetrics } from '../src/metrics/serve.js'
import { startTrainWorker } from './worker.js'

const config = loadConfig()
const log = createLogger(config.LOG_LEVEL, 'worker')
const worker = startTrainWorker(config, log)
const metrics = createMetrics()
observeJobs(worker, metrics)
const metricsServer = config.WORKER_METRICS_PORT ? await serveMetrics(metrics.registry, config.WORKER_METRICS_PORT, config.HOST) : undefined
log.info({ queue: worker.name, concurrency: config.WORKER_CONCURRENCY, metricsPort: config.WORKER_METRICS_PORT || null }, 'worker ready')

async function shutdown(signal: string) {
  log.info({ signal }, 'worker stopping')
  metricsServer?.close()
  await worker.close()
  process.exit(0)
}
process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))
