import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'
import type { ModelMetadata, ModelStore } from '../storage/models.js'
import { decodeImage, toInputTensor } from './image.js'

export interface Prediction {
  label: string
  /** Softmax probability in [0, 1]. */
  score: number
}

export interface PredictorOptions {
  models: ModelStore
  /** Models kept in memory, least recently used evicted first (MobileNetV2 classifiers take ~10 MB each). @defaultValue 3 */
  maxLoaded?: number
  /** Pixel limit per image, see `decodeImage`. */
  maxPixels: number
  /** Images per forward pass; bounds the backend's working memory for large requests. @defaultValue 16 */
  batchSize?: number
}

export interface Predictor {
  /**
   * Classifies each image with the stored model.
   * @param images encoded image bytes (JPEG, PNG, …)
   * @param topK predictions per image, clamped to [1, number of labels]
   * @returns per image, the topK labels by descending score
   * @throws AppError MODEL_NOT_FOUND, and the decoding errors of `decodeImage`
   */
  predict(modelId: string, images: Uint8Array[], topK: number): Promise<Prediction[][]>
  /** Drops a model from memory (e.g. after it was deleted); in-flight predictions finish first. */
  evict(modelId: string): void
  /** Frees every loaded model. */
  close(): Promise<void>
  /** For metrics: models in memory, and the tensors and bytes the tfjs backend holds in this process. */
  stats(): { loadedModels: number; tensors: number; bytes: number }
}

interface Loaded {
  model: tf.LayersModel
  meta: ModelMetadata
}

interface Entry {
  loading: Promise<Loaded>
  /** Predictions in flight; an evicted entry is disposed when this drops to 0. */
  users: number
  evicted: boolean
  /** Set when `loading` has resolved; only loaded entries count against `maxLoaded`. */
  loaded: boolean
}

/**
 * The one owner of prediction tensors: an LRU of loaded classifiers. A model is loaded once even when many
 * first requests race for it; every call frees what it allocates, so `tf.memory().numTensors` only moves when
 * models are loaded or evicted.
 */
export function createPredictor(opts: PredictorOptions): Predictor {
  const maxLoaded = Math.max(1, opts.maxLoaded ?? 3)
  const batchSize = Math.max(1, opts.batchSize ?? 16)
  const entries = new Map<string, Entry>()

  const dispose = (entry: Entry): Promise<void> =>
    entry.loading.then(
      ({ model }) => void model.dispose(),
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
    const model = await opts.models.load(id)
    const s = meta.base.inputSize
    tf.tidy(() => {
      model.predict(tf.zeros([1, s, s, 3])) // warm-up: the first real request is not the slow one
    })
    return { model, meta }
  }

  return {
    evict: (id) => void evict(id),
    stats: () => {
      const { numTensors, numBytes } = tf.memory()
      return { loadedModels: [...entries.values()].filter((e) => e.loaded && !e.evicted).length, tensors: numTensors, bytes: numBytes }
    },
    async predict(modelId, images, topK) {
      const entry = acquire(modelId)
      try {
        const { model, meta } = await entry.loading
        const { inputSize, preprocessing } = meta.base
        const k = Math.max(1, Math.min(Math.floor(topK) || 1, meta.labels.length))
        const results: Prediction[][] = []
        for (let start = 0; start < images.length; start += batchSize) {
          const pixels = await Promise.all(images.slice(start, start + batchSize).map((b) => decodeImage(b, inputSize, { maxPixels: opts.maxPixels })))
          const probs = tf.tidy(() => model.predict(toInputTensor(pixels, inputSize, preprocessing)) as tf.Tensor2D)
          let data: Float32Array
          try {
            data = (await probs.data()) as Float32Array
          } finally {
            probs.dispose()
          }
          const c = meta.labels.length
          for (let i = 0; i < pixels.length; i++) {
            const row = data.subarray(i * c, (i + 1) * c)
            results.push(
              [...row.keys()]
                .sort((a, b) => row[b]! - row[a]! || a - b)
                .slice(0, k)
                .map((j) => ({ label: meta.labels[j]!, score: row[j]! })),
            )
          }
        }
        return results
      } finally {
        release(entry)
      }
    },
    async close() {
      await Promise.all([...entries.keys()].map(evict))
    },
  }
}
