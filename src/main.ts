/** `npm start`: Redis (started when none answers), the API and one training worker, on embedded defaults. */
import { loadConfig } from './config.js'
import { buildApp } from './http/app.js'
import { createLogger } from './logger.js'
import { ensureRedis, RedisUnavailableError, type RedisHandle } from './redis-server.js'
import { dataLayout } from './storage/layout.js'
import { observeJobs } from './metrics/job-metrics.js'
import { startTrainWorker } from '../workers/worker.js'

const config = loadConfig()
const log = createLogger(config.LOG_LEVEL, 'imagetune')

let redis: RedisHandle
try {
  redis = await ensureRedis(config.REDIS_URL, dataLayout(config.DATA_DIR).redis, log)
} catch (err) {
  if (!(err instanceof RedisUnavailableError)) throw err
  console.error(`imagetune: ${err.message}`)
  process.exit(1)
}

const app = await buildApp(config, log)
await app.listen({ port: config.PORT, host: config.HOST })
const worker = config.EMBEDDED_WORKER ? startTrainWorker(config, log) : undefined
// One process, one registry: the API's /metrics also counts the embedded worker's jobs.
if (worker) observeJobs(worker, app.metrics)

let stopping = false
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'shutting down')
  await app.close() // drains in-flight requests
  await worker?.close()
  await redis.stop()
  process.exit(0)
}
process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))
