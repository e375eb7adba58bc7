import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'
import type { ModelDocument } from '../contract/models.js'
import type { Classifier } from './export.js'
import { runnableClassifier, type RunnableClassifier } from './fast-classifier.js'
import { modelFromFiles } from './file-io.js'
import { toInputTensor } from './image.js'

/** Runs forward passes of stored classifiers on already decoded pixels. One per tfjs backend instance (thread). */
export interface ModelRunner {
  /**
   * @param pixels per image `inputSize × inputSize × 3` RGB bytes from `decodeImage`
   * @returns the class probabilities, row-major `[pixels.length, classes]`
   * @throws AppError MODEL_NOT_FOUND
   */
  run(modelId: string, pixels: Uint8Array[]): Promise<Float32Array>
  /** Drops a model from memory; in-flight runs finish first. */
  evict(modelId: string): Promise<void>
  /** Frees every loaded model. */
  close(): Promise<void>
  /** Models loaded and not evicted. */
  loadedCount(): number
}

/**
 * Where stored classifiers are read from (the model store fits it): metadata, and the files ml serialised
 * (`model.json` and its weights, by file name).
 */
export interface ModelSource {
  /** undefined when there is no such model */
  getMetadata(id: string): Promise<ModelDocument | undefined>
  /** @throws AppError MODEL_NOT_FOUND */
  load(id: string): Promise<Record<string, Uint8Array>>
}

export interface ModelRunnerOptions {
  models: ModelSource
  /** Models kept in memory, least recently used evicted first (MobileNetV2 classifiers take ~10 MB each). @defaultValue 3 */
  maxLoaded?: number
}

/** What one tfjs backend instance holds: for tests (flat tensor counts) and the metrics endpoint. */
export interface RunnerMemory {
  tensors: number
  bytes: number
  loadedModels: number
}

export function runnerMemory(runner: Pick<ModelRunner, 'loadedCount'>): RunnerMemory {
  const { numTensors, numBytes } = tf.memory()
  return { tensors: numTensors, bytes: numBytes, loadedModels: runner.loadedCount() }
}

interface Loaded {
  model: Classifier
  runnable: RunnableClassifier
  meta: ModelDocument
}

interface Entry {
  loading: Promise<Loaded>
  /** Runs in flight; an evicted entry is disposed when this drops to 0. */
  users: number
  evicted: boolean
  /** Set when `loading` has resolved; only loaded entries count against `maxLoaded`. */
  loaded: boolean
}

/**
 * An LRU of loaded classifiers that owns every tensor it makes. A model is loaded once even when many first
 * requests race for it; every run frees what it allocates, so `tf.memory().numTensors` only moves when models
 * are loaded or evicted.
 */
export function createModelRunner(opts: ModelRunnerOptions): ModelRunner {
  const maxLoaded = Math.max(1, opts.maxLoaded ?? 3)
  const entries = new Map<string, Entry>()

  const dispose = (entry: Entry): Promise<void> =>
    entry.loading.then(
      ({ model, runnable }) => {
        runnable.dispose()
        model.dispose()
      },
      () => {},
    )
  const evict = async (id: string): Promise<void> => {
    const entry = entries.get(id)
    if (!entry) return
    entries.delete(id)
    entry.evicted = true
    if (entry.users === 0) await dispose(entry)
  }
  const acquire = (id: string): Entry => {
    let entry = entries.get(id)
    if (entry) {
      entries.delete(id) // re-insert: Map order is our recency order
    } else {
      const created: Entry = { loading: load(id), users: 0, evicted: false, loaded: false }
      created.loading.then(
        () => {
          created.loaded = true
        },
        () => {
          // A failed load is forgotten, so the next request tries again.
          if (entries.get(id) === created) entries.delete(id)
        },
      )
      entry = created
    }
    entries.set(id, entry)
    entry.users++
    // Make room only once this model is in: an unknown or broken id must not push a good model out.
    entry.loading.then(trim, () => {})
    return entry
  }
  /** Evicts the least recently used loaded models beyond `maxLoaded` (never one still loading). */
  const trim = () => {
    const loaded = [...entries].filter(([, e]) => e.loaded).map(([id]) => id)
    for (const id of loaded.slice(0, Math.max(0, loaded.length - maxLoaded))) void evict(id)
  }
  const release = (entry: Entry) => {
    if (--entry.users === 0 && entry.evicted) void dispose(entry)
  }
  const load = async (id: string): Promise<Loaded> => {
    const meta = await opts.models.getMetadata(id)
    if (!meta) throw new AppError('MODEL_NOT_FOUND', `no model '${id}'`)
    const model = await modelFromFiles(await opts.models.load(id))
    const runnable = runnableClassifier(model)
    const s = meta.base.inputSize
    tf.tidy(() => {
      runnable.predict(tf.zeros([1, s, s, 3])) // warm-up: the first real request is not the slow one
    })
    return { model, runnable, meta }
  }

  return {
    evict,
    async run(modelId, pixels) {
      const entry = acquire(modelId)
      try {
        const { runnable, meta } = await entry.loading
        const probs = tf.tidy(() => runnable.predict(toInputTensor(pixels, meta.base.inputSize, meta.base.preprocessing)))
        try {
          return (await probs.data()) as Float32Array
        } finally {
          probs.dispose()
        }
      } finally {
        release(entry)
      }
    },
    async close() {
      await Promise.all([...entries.keys()].map(evict))
    },
    loadedCount: () => [...entries.values()].filter((e) => e.loaded).length,
  }
}
