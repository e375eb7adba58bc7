import type { ModelDocument } from '../contract/models.js'
import { AppError } from '../errors.js'
import { siblingModule } from '../sibling-module.js'
import type { BackendOverride } from './backend.js'
import { decodeImage } from './image.js'
import { createMicroBatcher } from './micro-batcher.js'
import { createModelRunner, runnerMemory, type ModelRunner, type ModelSource, type RunnerMemory } from './model-runner.js'
import { createThreadPool } from './thread-pool.js'

export interface Prediction {
  label: string
  /** Softmax probability in [0, 1]. */
  score: number
}

export interface PredictorOptions {
  models: ModelSource
  /** Models kept in memory per thread, least recently used evicted first. @defaultValue 3 */
  maxLoaded?: number
  /** Pixel limit per image, see `decodeImage`. */
  maxPixels: number
  /** Images of concurrent requests for one model run together, up to this many per forward pass. @defaultValue 16 */
  maxBatch?: number
  /**
   * How long an image waits for others to batch with, ms. At 0 an image runs as soon as a thread is free, and images
   * batch only while every thread is busy (no added latency when idle). @defaultValue 0
   */
  maxDelayMs?: number
  /**
   * Runs the forward passes on `count` worker_threads, each with its own `backend`, reading models through
   * `models` here. Absent: on this thread, with the backend already initialised here.
   */
  threads?: { count: number; backend: BackendOverride }
}

/** What each prediction thread is started with. */
export interface PredictThreadData {
  backend: BackendOverride
  maxLoaded: number
}

/** A prediction thread's tasks: a forward pass (`Float32Array` back); the others go to every thread. */
export type PredictRequest = { type: 'run'; modelId: string; pixels: Uint8Array[] } | { type: 'evict'; modelId: string } | { type: 'memory' }

/** A prediction thread's reads of the predictor's model source. */
export type ModelRead = { type: 'metadata' | 'load'; modelId: string }

const PREDICT_THREAD = siblingModule('./predict-thread', import.meta.url)

export interface Predictor {
  /**
   * Classifies each image with the stored model.
   * @param images encoded image bytes (JPEG, PNG, …)
   * @param topK predictions per image, clamped to [1, number of labels]
   * @param threshold drops predictions scoring below it, in [0, 1]
   * @returns per image, the topK labels by descending score, none below the threshold
   * @throws AppError MODEL_NOT_FOUND, and the decoding errors of `decodeImage`
   */
  predict(modelId: string, images: Uint8Array[], topK: number, threshold?: number): Promise<Prediction[][]>
  /** Whether the model is stored, from the metadata `predict` reads and caches (one store read per model, not per call). */
  has(modelId: string): Promise<boolean>
  /** Drops a model from memory everywhere (e.g. after it was deleted); in-flight predictions finish first. */
  evict(modelId: string): Promise<void>
  /** Live tensors of each backend running predictions: flat across requests unless models load or go. */
  tensorCounts(): Promise<number[]>
  /** Totals over every backend running predictions, for the metrics endpoint. */
  stats(): Promise<RunnerMemory>
  /** Frees every loaded model and stops the threads. */
  close(): Promise<void>
}

/**
 * Serves predictions: decodes on the libuv pool (sharp, off the event loop), micro-batches concurrent images of
 * one model, and runs each batch on a thread of the pool (or here when `threads` is 0). The models' metadata
 * (labels, input size) is cached here so unknown ids fail before decoding.
 */
export function createPredictor(opts: PredictorOptions): Predictor {
  let runner: Omit<ModelRunner, 'loadedCount'>
  let memory: () => Promise<RunnerMemory[]>
  if (opts.threads) {
    const data: PredictThreadData = { backend: opts.threads.backend, maxLoaded: opts.maxLoaded ?? 3 }
    const pool = createThreadPool<PredictRequest, unknown>({
      entry: PREDICT_THREAD,
      size: opts.threads.count,
      data,
      // Metadata from the cache `predict` fills, so a thread loading a model costs no second read of it.
      host: ({ type, modelId }: ModelRead) => (type === 'metadata' ? meta(modelId) : opts.models.load(modelId)),
    })
    runner = {
      run: async (modelId, pixels) => (await pool.run({ type: 'run', modelId, pixels }, [], modelId)) as Float32Array,
      evict: async (modelId) => {
        await pool.broadcast({ type: 'evict', modelId })
      },
      close: () => pool.close(),
    }
    memory = async () => (await pool.broadcast({ type: 'memory' })) as RunnerMemory[]
  } else {
    const local = createModelRunner(opts)
    runner = local
    memory = async () => [runnerMemory(local)]
  }
  const batcher = createMicroBatcher<Uint8Array, Float32Array>({
    maxBatch: opts.maxBatch ?? 16,
    maxDelayMs: opts.maxDelayMs ?? 0,
    // One batch per thread at a time: what arrives meanwhile queues here and goes as the next batch.
    capacity: opts.threads?.count ?? 1,
    run: async (modelId, pixels) => {
      const probs = await runner.run(modelId, pixels)
      const classes = probs.length / pixels.length
      return pixels.map((_, i) => probs.subarray(i * classes, (i + 1) * classes))
    },
  })
  const metadata = new Map<string, Promise<ModelDocument>>()
  const meta = (id: string): Promise<ModelDocument> => {
    let entry = metadata.get(id)
    if (!entry) {
      entry = opts.models.getMetadata(id).then((m) => {
        if (!m) throw new AppError('MODEL_NOT_FOUND', `no model '${id}'`)
        return m
      })
      entry.catch(() => metadata.delete(id)) // an unknown id may exist later
      metadata.set(id, entry)
      // Metadata is small; the bound only stops a flood of distinct ids from growing the map.
      if (metadata.size > METADATA_CACHE) metadata.delete(metadata.keys().next().value!)
    }
    return entry
  }

  return {
    async predict(modelId, images, topK, threshold = 0) {
      const { labels, base } = await meta(modelId)
      const pixels = await Promise.all(images.map((b) => decodeImage(b, base.inputSize, { maxPixels: opts.maxPixels })))
      const rows = await Promise.all(pixels.map((p) => batcher.submit(modelId, p)))
      const k = Math.max(1, Math.min(Math.floor(topK) || 1, labels.length))
      return rows.map((row) => rank(row, labels, k, threshold))
    },
    has: (id) =>
      meta(id).then(
        () => true,
        (err: unknown) => {
          if (err instanceof AppError && err.code === 'MODEL_NOT_FOUND') return false
          throw err
        },
      ),
    async evict(id) {
      metadata.delete(id)
      await runner.evict(id)
    },
    tensorCounts: async () => (await memory()).map((m) => m.tensors),
    stats: async () =>
      (await memory()).reduce((sum, m) => ({ tensors: sum.tensors + m.tensors, bytes: sum.bytes + m.bytes, loadedModels: sum.loadedModels + m.loadedModels }), {
        tensors: 0,
        bytes: 0,
        loadedModels: 0,
      }),
    close: () => runner.close(),
  }
}

/** Model ids whose metadata stays cached. */
const METADATA_CACHE = 256

/** The `k` best labels of one probability row, best first (ties by label order), none below `threshold`. */
export function rank(row: Float32Array, labels: string[], k: number, threshold: number): Prediction[] {
  return [...row.keys()]
    .sort((a, b) => row[b]! - row[a]! || a - b)
    .slice(0, k)
    .filter((j) => row[j]! >= threshold)
    .map((j) => ({ label: labels[j]!, score: row[j]! }))
}
