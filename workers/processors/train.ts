/**
 * The sandboxed training processor: BullMQ runs it in a child process, so a CPU-bound epoch cannot starve the
 * worker's lock renewal, and a tfjs abort kills one job, not the worker.
 */
// First: starts the default base's extraction threads before the heavy imports below are evaluated.
import { takeEarlyThreads } from './early-threads.js'
import { UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq'
import { loadConfig } from '../../src/config.js'
import { withTrainDefaults } from '../../src/contract/jobs.js'
import { DEFAULT_PROJECT_ID } from '../../src/contract/projects.js'
import { AppError } from '../../src/errors.js'
import { createLogger, type Logger } from '../../src/logger.js'
import { initBackend } from '../../src/ml/backend.js'
import { baseId, isBuiltinBase, loadBase, type Base, type BaseModelRef } from '../../src/ml/bases.js'
import { createTrainingRunService, type TrainingRunService } from '../../src/services/training.js'
import { dataInsights } from '../../src/ml/data-insights.js'
import { createFeaturePool, type FeaturePool } from '../../src/ml/feature-pool.js'
import { embedHere } from '../../src/ml/features.js'
import { warmUpDecoder } from '../../src/ml/image.js'
import { fineTuneEpochs, phaseFraction, trainClassifier, type TrainClassifierOptions } from '../../src/ml/train-classifier.js'
import { abortError } from '../../src/ml/abort.js'
import { THUMBNAIL_CACHE_ID } from '../../src/ml/thumbnails.js'
import { ABORT_REASON, DEFAULT_BASE_MODEL, failureReason, type TrainModelJob, type TrainOptions, type TrainProgress, type TrainResult } from '../../src/queue/jobs.js'
import { modelToFiles } from '../../src/ml/file-io.js'
import { dataLayout } from '../../src/storage/layout.js'
import type { FeatureCache } from '../../src/storage/features.js'
import { openStores } from '../../src/storage/open-store.js'
import { relativeToProject, repositoriesFor } from '../../src/storage/repositories.js'
import { createProgressTracker } from '../progress.js'
import { startHeartbeat } from '../sandbox-watchdog.js'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { projectOf } from '../../src/queue/job-reader.js'
import { systemResolver } from '../../src/net/ssrf-guard.js'

const config = loadConfig()
const logger = createLogger(config.LOG_LEVEL, 'train-processor')
const layout = dataLayout(config.DATA_DIR)
// Datasets, models, checkpoints and features live in the shared store; DATA_DIR keeps bases, fetched images and
// features near at hand, and may be wiped between jobs.
const stores = await openStores(config)
/** A job queued with keys fetches its URL base as the API checked it: no host inside the network (see fetchUrlBase). */
const BASE_FETCH = { dir: path.join(layout.bases, 'fetched'), maxFileBytes: config.MAX_UPLOAD_BYTES, check: { allowHosts: new Set<string>(), resolve: systemResolver } }
const runs = new Map<string, TrainingRunService>()
/** The storage side of a job of project `projectId`, built on its first job here and kept. */
function runServiceFor(projectId: string): TrainingRunService {
  let run = runs.get(projectId)
  if (!run) {
    const repos = repositoriesFor(stores, projectId, { layout })
    run = createTrainingRunService({ repos, bases: repos.bases, guardedFetch: BASE_FETCH })
    runs.set(projectId, run)
  }
  return run
}
// The worker that forked us died (SIGKILL, OOM): stop now. Its job is recovered as stalled and resumed from the
// last checkpoint elsewhere; training on here would race that worker to the same model id.
process.on('disconnect', () => process.exit(1))
// The worker kills a child that stops beating: alive but stuck, it would otherwise hold its job's lock forever.
startHeartbeat(config.TRAIN_HEARTBEAT_TIMEOUT_MS)
// One backend per child process, chosen when it starts (see warmUp) and reused by every job.
const backend = initBackend(config.IMAGETUNE_BACKEND)
// Bundled bases never change: loaded once per child process and kept for its next jobs.
const builtinBases = new Map<string, Promise<Base>>()
// Extraction threads for the last base used, started with its first job and kept for the next.
const pools = new Map<string, Promise<FeaturePool | undefined>>()

function baseFor(ref: BaseModelRef): Promise<Base> {
  if (!isBuiltinBase(ref)) return loadBase(ref, layout.bases)
  let base = builtinBases.get(ref)
  if (!base) {
    base = loadBase(ref, layout.bases)
    base.catch(() => builtinBases.delete(ref))
    builtinBases.set(ref, base)
  }
  return base
}

/** A feature pool for this base on wasm with more than one thread; undefined (extract here) otherwise. */
function poolFor(ref: BaseModelRef, backendName: string, log: Logger): Promise<FeaturePool | undefined> {
  const threads = config.EXTRACT_THREADS || availableParallelism()
  const key = baseId(ref)
  // The threads early-threads.ts started serve this base if it is theirs; otherwise they go.
  const early = takeEarlyThreads()
  const fromEarly = early && backendName === 'wasm' && threads === early.threads && key === baseId(early.base) ? early.pool : undefined
  if (early && !fromEarly) void early.pool.then((p) => p.close(), () => undefined)
  if (backendName !== 'wasm' || threads < 2) return Promise.resolve(undefined)
  // One pool per child (a child runs one job at a time): another base's threads and heaps go first.
  for (const [other, stale] of pools) {
    if (other === key) continue
    pools.delete(other)
    void stale.then((p) => p?.close())
  }
  let pool = pools.get(key)
  if (!pool) {
    pool = (fromEarly ?? createFeaturePool({ base: ref, basesDir: layout.bases, threads })).catch((err: unknown) => {
      log.warn({ err }, 'feature threads failed to start; extracting in the job thread')
      pools.delete(key)
      return undefined
    })
    pools.set(key, pool)
  }
  return pool
}

/**
 * Started as this child starts (the worker forks it before its first job when WORKER_PREWARM is on): the default
 * base and its extraction threads load, and the image decoder starts, while nothing waits, and the first job finds
 * them ready. A failure is only
 * logged here; the job that needs the base retries the load and reports its error.
 */
async function warmUp(): Promise<void> {
  const started = performance.now()
  const { name } = await backend
  const ref = await runServiceFor(DEFAULT_PROJECT_ID).base({ baseModel: DEFAULT_BASE_MODEL })
  const [base, pool] = await Promise.all([baseFor(ref), poolFor(ref, name, logger)])
  await warmUpDecoder(base.inputSize)
  logger.info({ base: DEFAULT_BASE_MODEL, backend: name, extractThreads: pool?.threads ?? 0, seconds: Math.round(performance.now() - started) / 1000 }, 'sandbox warm')
}
if (config.WORKER_PREWARM) warmUp().catch((err: unknown) => logger.warn({ err }, 'warm-up failed; the first job loads what it needs'))
else backend.catch(() => undefined) // reported by the first job that awaits it

/**
 * Counts lookups for the job result: this child's own counters would die with it. Only embeddings count: the
 * near-duplicate thumbnails share the cache but cost no base-model pass.
 */
function countingCache(inner: FeatureCache) {
  const counts = { hits: 0, misses: 0 }
  const counting: FeatureCache = {
    get: async (baseId, key) => {
      const vec = await inner.get(baseId, key)
      if (baseId !== THUMBNAIL_CACHE_ID) counts[vec ? 'hits' : 'misses']++
      return vec
    },
    put: (baseId, key, vec) => inner.put(baseId, key, vec),
  }
  return { cache: counting, counts }
}

/** The job's options as the ML core takes them: defaults from the contract filled in, null (absent in JSON) as undefined. */
function classifierOptions(options: TrainOptions): TrainClassifierOptions {
  const filled = withTrainDefaults(options)
  return { ...filled, earlyStopping: filled.earlyStopping ?? undefined, augment: filled.augment ?? undefined }
}

/** What the job result and the model's metadata both say about a run beyond its metrics and history. */
function trainingReport(outcome: Awaited<ReturnType<typeof trainClassifier>>) {
  const { evaluatedOn, bestEpoch, misclassified, warnings, classWeights, fineTuned, trainViews, insights } = outcome
  return { evaluatedOn, bestEpoch, misclassified, warnings, classWeights, fineTuned, trainViews, ...insights }
}

/**
 * Bad input fails once with its code; anything else is thrown as is (its message's paths made relative) and retried
 * with backoff, including a store that is unreachable for now (STORAGE_UNAVAILABLE: the bucket may be back for the
 * next attempt).
 */
function classify(err: unknown, projectId: string): unknown {
  // The failure reason is the job document's error, which the project's caller reads: paths relative to the project.
  const reason = (message: string) => relativeToProject(message, layout, projectId)
  if (err instanceof AppError && err.code === 'STORAGE_UNAVAILABLE') return new Error(failureReason(err.code, reason(err.message)))
  if (err instanceof AppError) return new UnrecoverableError(failureReason(err.code, reason(err.message)))
  if (err instanceof Error && err.name === 'AbortError') return new UnrecoverableError(failureReason('JOB_CANCELLED', 'the job was cancelled'))
  if (err instanceof Error) err.message = reason(err.message) // kept whole in the log line just written
  return err
}

async function train(job: SandboxedJob<TrainModelJob, TrainResult>, log: Logger, backendName: string, signal?: AbortSignal): Promise<TrainResult> {
  const { modelId, datasetId, options } = job.data
  const jobId = job.id
  const run = runServiceFor(projectOf(job.data))
  // An earlier attempt may have published the model and died before BullMQ recorded the result: answer with it.
  const saved = await run.earlierResult(jobId, modelId)
  if (saved) {
    log.info({ modelId }, 'model already saved by an earlier attempt')
    return saved
  }
  const epochs = options.epochs + (options.fineTuneLayers ? fineTuneEpochs(options.epochs) : 0)
  const progress = createProgressTracker(epochs, Date.now, previousProgress(job.progress))
  const report = (...args: Parameters<typeof progress.update>) => job.updateProgress({ ...progress.update(...args) })
  const resumeFrom = await run.resumePoint(jobId, modelId)
  if (resumeFrom) {
    progress.resume(resumeFrom.epoch, resumeFrom.history)
    log.info({ epoch: resumeFrom.epoch, epochs: options.epochs }, 'resuming from checkpoint')
  }

  await report('preparing', 0)
  const { labels, examples } = await run.examples(datasetId)
  const baseModel = await run.base(job.data)
  // Threads start (once per child process) while the base loads: their start-up is off the critical path.
  const pool = poolFor(baseModel, backendName, log)
  const base = await baseFor(baseModel)
  const counted = countingCache(run.features)
  try {
    if (signal?.aborted) throw abortError(signal) // loading takes seconds and cannot be interrupted
    const outcome = await trainClassifier({
      base,
      labels,
      examples,
      options: classifierOptions(options),
      cache: counted.cache,
      maxPixels: config.MAX_IMAGE_PIXELS,
      embed: async (pixels) => {
        const threads = await pool
        if (!threads) return embedHere(base, pixels)
        return threads.embed(pixels).catch((err: unknown) => {
          pools.delete(baseId(baseModel)) // a dead thread: the next job starts fresh ones; this one is retried
          void threads.close()
          throw err
        })
      },
      // On an extraction thread, idle by then, while the head trains on this one; without threads, here.
      insights: async (input) => {
        const threads = await pool
        return threads ? threads.insights(input) : dataInsights(input)
      },
      signal,
      resumeFrom,
      onCheckpoint: async (state) => {
        if (!signal?.aborted) await run.saveCheckpoint(jobId, modelId, state)
      },
      onProgress: (p) => {
        void report(p.phase, phaseFraction(p), p.log)
        if (p.log) log.info({ ...p.log, epochs: options.epochs }, 'epoch done')
      },
    })
    const result: TrainResult = {
      modelId,
      metrics: outcome.metrics,
      trainCount: outcome.trainCount,
      valCount: outcome.valCount,
      backend: backendName,
      featureCache: counted.counts,
      history: outcome.history,
      ...trainingReport(outcome),
    }
    try {
      await report('saving', 0)
      await run.publish(jobId, result, await modelToFiles(outcome.model), {
        id: modelId,
        createdAt: new Date().toISOString(),
        labels,
        base: { id: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing, format: base.kind === 'graph' ? 'graph-model' : 'layers-model' },
        metrics: outcome.metrics,
        history: outcome.history,
        ...trainingReport(outcome),
        jobId: job.id,
        datasetId,
        params: { baseModel: job.data.baseModel, ...options },
      })
    } finally {
      outcome.model.dispose()
    }
    await report('done', 1)
    log.info({ modelId, trainCount: outcome.trainCount, valCount: outcome.valCount, featureCache: counted.counts, metrics: outcome.metrics, timings: outcome.timings }, 'model trained')
    return result
  } finally {
    if (!isBuiltinBase(baseModel)) base.dispose()
  }
}

/** The sandbox hands the job's progress over as BullMQ stored it: JSON text. */
function previousProgress(stored: unknown): TrainProgress | undefined {
  try {
    const value: unknown = typeof stored === 'string' ? JSON.parse(stored) : stored
    return typeof value === 'object' && value !== null && 'percent' in value ? (value as TrainProgress) : undefined
  } catch {
    return undefined
  }
}

export default async function processTrain(
  job: SandboxedJob<TrainModelJob, TrainResult>,
  token?: string,
  signal?: AbortSignal, // keep three params: BullMQ checks processor.length
): Promise<TrainResult> {
  const log = logger.child({ jobId: job.id, queue: job.queueName, requestId: job.data.requestId })
  const { name, reason } = await backend
  log.info({ backend: name, reason, attempt: job.attemptsMade + 1 }, 'training started')
  try {
    return await train(job, log, name, signal)
  } catch (err) {
    if (signal?.aborted && signal.reason === ABORT_REASON.shutdown) {
      // Back to wait, not failed, with the checkpoint kept: the next worker resumes it. WaitingError tells BullMQ
      // the job has been moved already.
      log.info('worker stopping: job handed back to the queue')
      await job.moveToWait(token)
      throw new WaitingError()
    }
    if (signal?.aborted && signal.reason === ABORT_REASON.cancel) {
      await runServiceFor(projectOf(job.data)).discard(job.id)
      log.info('job cancelled')
      throw new UnrecoverableError(failureReason('JOB_CANCELLED', 'cancelled while running'))
    }
    log.error({ err }, 'training failed')
    throw classify(err, projectOf(job.data))
  }
}
