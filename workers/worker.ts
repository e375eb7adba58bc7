import { fileURLToPath } from 'node:url'
import { Worker } from 'bullmq'
import type { Config } from '../src/config.js'
import type { Logger } from '../src/logger.js'
import { redisConnection } from '../src/queue/connection.js'
import { TRAINING_QUEUE, type TrainModelJob, type TrainResult } from '../src/queue/jobs.js'

const PROCESSOR = fileURLToPath(new URL('./processors/train.ts', import.meta.url))

/** The config reaches the sandboxed child through its environment, where its own loadConfig() reads it. */
function configEnv(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, String(value)]))
}

/**
 * Starts a BullMQ worker for the training queue. Each job runs in a forked child with the tsx loader, so the
 * processor stays TypeScript and a crash in tfjs takes down one job, not this process.
 */
export function startTrainWorker(config: Config, log: Logger): Worker<TrainModelJob, TrainResult> {
  const worker = new Worker<TrainModelJob, TrainResult>(TRAINING_QUEUE, PROCESSOR, {
    connection: redisConnection(config.REDIS_URL, 'worker'),
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.TRAIN_LOCK_MS,
    useWorkerThreads: false,
    workerForkOptions: {
      execArgv: ['--import', import.meta.resolve('tsx')],
      env: { ...process.env, ...configEnv(config) },
    },
  })
  worker.on('error', (err) => log.error({ err }, 'worker error'))
  worker.on('active', (job) => log.info({ jobId: job.id, datasetId: job.data.datasetId }, 'job started'))
  worker.on('completed', (job) => log.info({ jobId: job.id, modelId: job.returnvalue.modelId }, 'job completed'))
  worker.on('failed', (job, err) => log.warn({ jobId: job?.id, reason: err.message, attempts: job?.attemptsMade }, 'job failed'))
  return worker
}
