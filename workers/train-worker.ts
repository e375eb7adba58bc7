/** `npm run worker`: a training worker on its own, for more workers on the same Redis and DATA_DIR. */
import { loadConfig } from '../src/config.js'
import { createLogger } from '../src/logger.js'
import { startTrainWorker } from './worker.js'

const config = loadConfig()
const log = createLogger(config.LOG_LEVEL, 'worker')
const worker = startTrainWorker(config, log)
log.info({ queue: worker.name, concurrency: config.WORKER_CONCURRENCY }, 'worker ready')

async function shutdown(signal: string) {
  log.info({ signal }, 'worker stopping')
  await worker.close()
  process.exit(0)
}
process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))
