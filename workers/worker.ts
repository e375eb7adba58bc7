import { hostname } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { QueueEvents, Worker, type ChildPool, type Job } from 'bullmq'
import type { Config } from '../src/config.js'
import type { Logger } from '../src/logger.js'
import type { JobOutcome } from '../src/metrics/registry.js'
import { CANCEL_REQUESTED_FIELD } from '../src/queue/cancel.js'
import { redisConnection } from '../src/queue/connection.js'
import { ABORT_REASON, CANCEL_REQUESTED_EVENT, parseFailureReason, TRAINING_QUEUE, type TrainModelJob, type TrainResult } from '../src/queue/jobs.js'
import { DEFAULT_PROJECT_ID } from '../src/contract/projects.js'
import { createJobEnd, type EndedJob, type JobEndDeps } from '../src/services/job-end.js'
import { isTypeScript, siblingModule } from '../src/sibling-module.js'
import { dataLayout } from '../src/storage/layout.js'
import { localBlobStore } from '../src/storage/local-blob-store.js'
import { openSharedStore, type Stores } from '../src/storage/open-store.js'
import { repositoriesFor } from '../src/storage/repositories.js'
import { watchSandboxes } from './sandbox-watchdog.js'
import { startWebhookWorker } from './webhooks.js'

const PROCESSOR = siblingModule('./processors/train', import.meta.url)

/** Seconds the attempt ran, when BullMQ recorded both ends. */
function attemptSeconds(job: Job): number | undefined {
  return job.processedOn && job.finishedOn ? (job.finishedOn - job.processedOn) / 1000 : undefined
}

/**
 * How often a worker looks for jobs whose worker died (lock expired), ms; at most half the lock period. A job is moved
 * on the first check after its lock expired that follows an earlier check made after its last renewal, so a dead
 * worker's job runs again within lock + interval (45 s on defaults), not lock + 2 × 30 s.
 */
const STALLED_INTERVAL_MS = 15_000
/**
 * Crashes a job may survive before it fails as stalled. Each recovery resumes from the last checkpoint, so a
 * repeat costs little; a job that kills its worker again and again must still end.
 */
const MAX_STALLED_COUNT = 2

/** The config reaches the sandboxed child through its environment, where its own loadConfig() reads it. */
function configEnv(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, String(value)]))
}

/**
 * Forks `children` sandboxed children now rather than at the first job; importing the processor starts each one's
 * warm-up (backend, default base, extraction threads). BullMQ forks on demand and has no public call for this, so
 * the children go through its (private) child pool, keyed by processor file, retained and released as a job would,
 * and jobs reuse them.
 */
async function prewarm(worker: Worker, pool: ChildPool, processor: string, children: number): Promise<void> {
  const forked = await Promise.all(Array.from({ length: children }, () => pool.retain(processor)))
  // Closed while forking: the pool was cleaned before these joined it, so they go here.
  for (const child of forked) await (worker.closing ? pool.kill(child, 'SIGTERM') : pool.release(child))
}

export interface TrainWorker {
  worker: Worker<TrainModelJob, TrainResult>
  /** `hostname:pid`, shown as the job's `worker`. */
  name: string
  /**
   * Stops taking jobs, has every running job save nothing more and go back to the queue (to wait, not failed: its
   * checkpoint lets the next worker resume it), then closes.
   */
  shutdown(): Promise<void>
}

/**
 * Starts a BullMQ worker for the training queue. Each job runs in a forked child (the built processor; its
 * TypeScript source through tsx when a test runs the sources), so a crash in tfjs takes down one job, not this
 * process. Cancel requests arrive as a
 * custom QueueEvents event from any API process and abort the job's signal in its sandbox.
 * @param metrics the process's registry, where each attempt is counted (services/job-end.ts)
 */
export async function startTrainWorker(config: Config, log: Logger, metrics: JobEndDeps['metrics']): Promise<TrainWorker> {
  const name = `${hostname()}:${process.pid}`
  // Job-end handling writes to the shared store only; `local` (DATA_DIR) is what repositories take beside it, unused here.
  const stores: Stores = { shared: await openSharedStore(config), local: localBlobStore(path.resolve(config.DATA_DIR)) }
  const worker = new Worker<TrainModelJob, TrainResult>(TRAINING_QUEUE, fileURLToPath(PROCESSOR), {
    name,
    connection: redisConnection(config.REDIS_URL, 'worker', log),
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.TRAIN_LOCK_MS,
    stalledInterval: Math.min(STALLED_INTERVAL_MS, Math.floor(config.TRAIN_LOCK_MS / 2)),
    maxStalledCount: MAX_STALLED_COUNT,
    // Jobs are taken once the sandboxed children are forked (see prewarm), so a first job cannot fork one more.
    autorun: !config.WORKER_PREWARM,
    useWorkerThreads: false,
    workerForkOptions: {
      // The built processor gets this process's Node flags (e.g. --enable-source-maps), as a plain fork would.
      execArgv: isTypeScript(PROCESSOR) ? ['--import', import.meta.resolve('tsx')] : process.execArgv,
      env: { ...process.env, ...configEnv(config) },
    },
  })
  // The lock proves the worker lives, not its sandbox: a stuck child loses its job through the heartbeat.
  const pool = (worker as unknown as { childPool?: ChildPool }).childPool // BullMQ keeps its sandbox pool private
  if (!pool) throw new Error('the training worker has no sandbox pool')
  watchSandboxes(pool, config.TRAIN_HEARTBEAT_TIMEOUT_MS, (pid, silentMs) => log.error({ pid, silentMs }, 'training sandbox stopped beating: killed, its job is retried'))
  if (config.WORKER_PREWARM) {
    void prewarm(worker, pool, fileURLToPath(PROCESSOR), config.WORKER_CONCURRENCY)
      .catch((err: unknown) => log.warn({ err }, 'could not fork the sandboxed children ahead; the first job forks them'))
      .then(() => worker.run())
      .catch((err: unknown) => log.error({ err }, 'worker stopped running'))
  }
  const control = redisConnection(config.REDIS_URL, 'worker', log)
  const eventsConnection = redisConnection(config.REDIS_URL, 'worker', log)
  const events = new QueueEvents(TRAINING_QUEUE, { connection: eventsConnection, prefix: config.QUEUE_PREFIX })
  const webhooks = startWebhookWorker(config, log)
  let stopping = false

  const layout = dataLayout(config.DATA_DIR)
  const jobEnds = new Map<string, (job: EndedJob) => Promise<void>>()
  /** Job-end handling for the jobs of one project (see services/job-end.ts), built on its first ended job and kept. */
  const jobEndFor = (projectId: string) => {
    let jobEnd = jobEnds.get(projectId)
    if (!jobEnd) {
      jobEnd = createJobEnd({ checkpoints: repositoriesFor(stores, projectId, { layout }).checkpoints, notifyWebhook: webhooks.notify, metrics, log })
      jobEnds.set(projectId, jobEnd)
    }
    return jobEnd
  }
  /**
   * An attempt of this worker's ended (see services/job-end.ts); `seconds` is read when its event came. The payload
   * names the job's project; jobs queued before projects existed are the default one's.
   */
  const attemptEnded = (job: Job<TrainModelJob, TrainResult>, outcome: JobOutcome, seconds: number | undefined) =>
    void jobEndFor(job.data.projectId ?? DEFAULT_PROJECT_ID)({
      id: job.id!,
      webhook: job.data.webhook,
      outcome,
      attempt: { seconds, featureCache: outcome === 'completed' ? job.returnvalue?.featureCache : undefined },
    })

  const cancel = (jobId: string, reason: string) => {
    if (worker.cancelJob(jobId, reason)) log.info({ jobId, reason }, 'job aborted')
  }
  ;(events as unknown as NodeJS.EventEmitter).on(CANCEL_REQUESTED_EVENT, ({ jobId }: { jobId: string }) => cancel(jobId, ABORT_REASON.cancel))
  events.on('error', (err) => log.error({ err }, 'queue events error'))
  worker.on('error', (err) => log.error({ err }, 'worker error'))
  worker.on('active', (job) => {
    log.info({ jobId: job.id, datasetId: job.data.datasetId, attemptsStarted: job.attemptsStarted }, 'job started')
    const jobId = job.id!
    // A cancel request that came while no worker held the job (or before this one tracked it) is on the job.
    void control.hget(worker.toKey(jobId), CANCEL_REQUESTED_FIELD).then(
      (requested) => {
        if (requested) cancel(jobId, ABORT_REASON.cancel)
        else if (stopping) cancel(jobId, ABORT_REASON.shutdown)
      },
      (err: Error) => log.warn({ err, jobId }, 'could not check for a cancel request'),
    )
  })
  worker.on('completed', (job) => {
    log.info({ jobId: job.id, modelId: job.returnvalue.modelId }, 'job completed')
    attemptEnded(job, 'completed', attemptSeconds(job))
  })
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, reason: err.message, attempts: job?.attemptsMade }, 'job failed')
    if (!job?.id) return
    const seconds = attemptSeconds(job) ?? (job.processedOn ? (Date.now() - job.processedOn) / 1000 : undefined)
    // Failed for good when BullMQ has it in the failed set; any other state means it runs again.
    void job.getState().then(
      (state) => attemptEnded(job, parseFailureReason(err.message).code === 'JOB_CANCELLED' ? 'cancelled' : state === 'failed' ? 'failed' : 'retried', seconds),
      (e: Error) => log.warn({ err: e, jobId: job.id }, 'could not read the state of a failed job'),
    )
  })

  return {
    worker,
    name,
    async shutdown() {
      stopping = true
      const closing = worker.close() // first, so a job handed back is not fetched again here
      worker.cancelAllJobs(ABORT_REASON.shutdown)
      await closing
      await webhooks.close()
      await events.close()
      eventsConnection.disconnect()
      control.disconnect()
      stores.shared.close()
    },
  }
}
