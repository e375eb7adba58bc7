/** `npm start`: Redis (started when none answers), the API and one training worker, on embedded defaults. */
import { loadConfig } from './config.js'
import { createLogger } from './logger.js'
import { createMetrics } from './metrics/registry.js'
import { ensureRedis, RedisUnavailableError, type RedisHandle } from './redis-server.js'
import { onShutdown } from './shutdown.js'
import { dataLayout } from './storage/layout.js'
import { StorageConfigError } from './storage/storage-url.js'
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

// One process, one registry: the API's /metrics also counts the embedded worker's jobs.
const metrics = createMetrics()
// The worker before the API: its sandboxed child imports the processor and warms up (backend, default base,
// extraction threads) on the other core while this process imports and builds the API, so a job posted as soon as
// the API answers finds it warm (bench/job, issue 14). The API's modules are imported only after the fork.
const starting = config.EMBEDDED_WORKER ? startTrainWorker(config, log, metrics) : undefined
starting?.catch(() => undefined) // awaited below, after the API: a bad STORAGE_URL is reported there first
const { buildApp } = await import('./http/app.js')
const app = await buildApp(config, log, { metrics }).catch((err: unknown) => {
  if (!(err instanceof StorageConfigError)) throw err
  console.error(`imagetune: ${err.message}`)
  return process.exit(1)
})
await app.listen({ port: config.PORT, host: config.HOST })
const worker = await starting

/** Past this the process exits anyway: a job that does not let go is recovered as stalled by another worker, ms. */
const SHUTDOWN_DEADLINE_MS = 25_000
/**
 * After SIGTERM the API keeps serving this long, answering `connection: close` and `/readyz` 503, before it closes:
 * requests a client sent on a kept-alive connection just before the signal are served instead of reset, ms.
 */
const DRAIN_GRACE_MS = 1_000

onShutdown(log, SHUTDOWN_DEADLINE_MS, async () => {
  // Both at once: the API drains in-flight requests (event streams end) while the worker hands its job back.
  app.beginDrain()
  const closing = new Promise((resolve) => setTimeout(resolve, DRAIN_GRACE_MS)).then(() => app.close())
  await Promise.all([closing, worker?.shutdown()])
  await redis.stop()
})
