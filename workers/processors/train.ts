/**
 * The sandboxed training processor: BullMQ runs it in a child process, so a CPU-bound epoch cannot starve the
 * worker's lock renewal, and a tfjs abort kills one job, not the worker.
 */
import { UnrecoverableError, type SandboxedJob } from 'bullmq'
import { loadConfig } from '../../src/config.js'
import { AppError } from '../../src/errors.js'
import { createLogger, type Logger } from '../../src/logger.js'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase } from '../../src/ml/bases.js'
import { fineTuneEpochs, trainClassifier, type TrainClassifierOptions } from '../../src/ml/train-classifier.js'
import { failureReason, type TrainModelJob, type TrainOptions, type TrainResult } from '../../src/queue/jobs.js'
import { createDatasetStore } from '../../src/storage/datasets.js'
import { createFeatureCache } from '../../src/storage/features.js'
import { dataLayout } from '../../src/storage/layout.js'
import { createModelStore } from '../../src/storage/models.js'
import { createProgressTracker } from '../progress.js'
import { readFile } from 'node:fs/promises'

const config = loadConfig()
const logger = createLogger(config.LOG_LEVEL, 'train-processor')
const layout = dataLayout(config.DATA_DIR)
const datasets = createDatasetStore(layout)
const models = createModelStore(layout.models)
const cache = createFeatureCache(layout.featureCache)
// One backend per child process, chosen on its first job and reused by the next.
let backend: ReturnType<typeof initBackend> | undefined

/** The job's options as the ML core takes them: null (absent in JSON) becomes undefined. */
function classifierOptions(options: TrainOptions): TrainClassifierOptions {
  return { ...options, earlyStopping: options.earlyStopping ?? undefined, augment: options.augment ?? undefined }
}

/** What the job result and the model's metadata both say about a run beyond its metrics and history. */
function trainingReport(outcome: Awaited<ReturnType<typeof trainClassifier>>) {
  const { evaluatedOn, bestEpoch, misclassified, warnings, classWeights, fineTuned, trainViews } = outcome
  return { evaluatedOn, bestEpoch, misclassified, warnings, classWeights, fineTuned, trainViews }
}

/** Bad input fails once with its code; anything else is thrown as is and retried with backoff. */
function classify(err: unknown): unknown {
  if (err instanceof AppError) return new UnrecoverableError(failureReason(err.code, err.message))
  if (err instanceof Error && err.name === 'AbortError') return new UnrecoverableError(failureReason('JOB_CANCELLED', 'the job was cancelled'))
  return err
}

async function train(job: SandboxedJob<TrainModelJob, TrainResult>, log: Logger, backendName: string, signal?: AbortSignal): Promise<TrainResult> {
  const { modelId, datasetId, baseModel, options } = job.data
  const progress = createProgressTracker(options.epochs + (options.fineTuneLayers ? fineTuneEpochs(options.epochs) : 0))
  const report = (...args: Parameters<typeof progress.update>) => job.updateProgress({ ...progress.update(...args) })

  await report('preparing', 0)
  const dataset = await datasets.get(datasetId)
  // A retry cannot bring the dataset back; keep attempts for transient faults.
  if (!dataset) throw new AppError('DATASET_NOT_FOUND', `dataset ${datasetId} does not exist (deleted?)`)
  const labels = dataset.classes.map((c) => c.name)
  const labelIndex = new Map(labels.map((name, i) => [name, i]))
  const base = await loadBase(baseModel, layout.bases)
  try {
    const examples = dataset.images.map((image) => ({
      key: image.sha256,
      label: labelIndex.get(image.label) ?? -1,
      split: image.split,
      path: image.path,
      read: () => readFile(datasets.imageFile(datasetId, image)),
    }))
    const outcome = await trainClassifier({
      base,
      labels,
      examples,
      options: classifierOptions(options),
      cache,
      maxPixels: config.MAX_IMAGE_PIXELS,
      signal,
      onProgress: (p) => {
        void report(p.phase, p.percent / 100, p.log)
        if (p.log) log.info({ ...p.log, epochs: options.epochs }, 'epoch done')
      },
    })
    try {
      await report('saving', 0)
      await models.save(modelId, outcome.model, {
        id: modelId,
        createdAt: new Date().toISOString(),
        labels,
        base: { id: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing },
        metrics: outcome.metrics,
        history: outcome.history,
        ...trainingReport(outcome),
        jobId: job.id,
        datasetId,
        params: { baseModel, ...options },
      })
    } finally {
      outcome.model.dispose()
    }
    await report('done', 1)
    log.info({ modelId, trainCount: outcome.trainCount, valCount: outcome.valCount, metrics: outcome.metrics }, 'model trained')
    return {
      modelId,
      metrics: outcome.metrics,
      trainCount: outcome.trainCount,
      valCount: outcome.valCount,
      backend: backendName,
      history: outcome.history,
      ...trainingReport(outcome),
    }
  } finally {
    base.dispose()
  }
}

export default async function processTrain(
  job: SandboxedJob<TrainModelJob, TrainResult>,
  _token?: string,
  signal?: AbortSignal, // keep three params: BullMQ checks processor.length
): Promise<TrainResult> {
  const log = logger.child({ jobId: job.id, queue: job.queueName, requestId: job.data.requestId })
  backend ??= initBackend(config.IMAGETUNE_BACKEND)
  const { name, reason } = await backend
  log.info({ backend: name, reason, attempt: job.attemptsMade + 1 }, 'training started')
  try {
    return await train(job, log, name, signal)
  } catch (err) {
    log.error({ err }, 'training failed')
    throw classify(err)
  }
}
