/**
 * The ML core on a tiny hand-built conv base (32 px, 16-d features): fast enough to test features and cache,
 * head training, composition and export, the model store and the predictor with real tfjs.
 */
import { createHash } from 'node:crypto'
import { modelFromFiles, modelToFiles } from '../../src/ml/file-io.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { AppError } from '../../src/errors.js'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase, type LayersBase } from '../../src/ml/bases.js'
import { saveModel } from '../helpers/model-files.js'
import { extractFeatures, type FeatureItem } from '../../src/ml/features.js'
import { fileLoadHandler } from '../../src/ml/file-io.js'
import { decodeImage, toInputTensor } from '../../src/ml/image.js'
import { createPredictor } from '../../src/ml/predictor.js'
import { trainHead } from '../../src/ml/train.js'
import { trainClassifier } from '../../src/ml/train-classifier.js'
import { seededRandom } from '../../src/ml/random.js'
import { createFeatureCache } from '../../src/storage/features.js'
import { createModelStore, type ModelMetadata } from '../../src/storage/models.js'
import { writeTinyBase } from '../helpers/tiny-base.js'

const SIZE = 32
const MAX_PIXELS = 1_000_000
const COLOURS = [
  { r: 230, g: 30, b: 30 },
  { r: 30, g: 200, b: 40 },
  { r: 40, g: 40, b: 220 },
]
const LABELS = ['red', 'green', 'blue']

let dir: string
let base: LayersBase

/** A noisy solid-colour PNG: class `c`, variant `v`. */
async function image(c: number, v: number, size = 40): Promise<Buffer> {
  const random = seededRandom(c * 1000 + v)
  const { r, g, b } = COLOURS[c]!
  const raw = Buffer.alloc(size * size * 3)
  for (let i = 0; i < size * size; i++) {
    raw[i * 3] = Math.max(0, Math.min(255, r + (random() - 0.5) * 60))
    raw[i * 3 + 1] = Math.max(0, Math.min(255, g + (random() - 0.5) * 60))
    raw[i * 3 + 2] = Math.max(0, Math.min(255, b + (random() - 0.5) * 60))
  }
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer()
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

async function dataset(perClass: number) {
  const out: { bytes: Buffer; label: number; key: string }[] = []
  for (let c = 0; c < COLOURS.length; c++) {
    for (let v = 0; v < perClass; v++) {
      const bytes = await image(c, v)
      out.push({ bytes, label: c, key: sha256(bytes) })
    }
  }
  return out
}

/** Gaussian blobs in `d` dimensions, one per class, far apart: a separable toy problem. */
function blobs(n: number, d: number, classes: number, seed: number) {
  const random = seededRandom(seed)
  const features: Float32Array[] = []
  const labels: number[] = []
  for (let i = 0; i < n; i++) {
    const c = i % classes
    const v = new Float32Array(d).map(() => (random() - 0.5) * 0.6)
    v[c] = v[c]! + 2
    features.push(v)
    labels.push(c)
  }
  return { features, labels }
}

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-ml-'))
  const url = await writeTinyBase(path.join(dir, 'tiny'), { size: SIZE, headUnits: 5 })
  base = (await loadBase({ url }, path.join(dir, 'bases'))) as LayersBase // a Keras file: a LayersModel base
})

afterAll(async () => {
  base?.dispose()
  await rm(dir, { recursive: true, force: true })
})

describe('custom base', () => {
  test('is cut at its global pool by default, input size read from the model', () => {
    expect(base.id).toMatch(/^url-[0-9a-f]{16}$/)
    expect(base.inputSize).toBe(SIZE)
    expect(base.featureLayer).toBe('pool')
    expect(base.featureSize).toBe(16)
    expect(base.trunk.layers.every((l) => !l.trainable)).toBe(true)
    expect(base.trunk.layers.map((l) => l.name)).not.toContain('orig_head')
  })

  test('a missing layer or file is BASE_MODEL_INVALID', async () => {
    const url = path.join(dir, 'tiny', 'model.json')
    await expect(loadBase({ url, featureLayer: 'nope' }, dir)).rejects.toMatchObject({ code: 'BASE_MODEL_INVALID' })
    await expect(loadBase({ url: path.join(dir, 'missing.json') }, dir)).rejects.toMatchObject({ code: 'BASE_MODEL_INVALID' })
  })
})

describe('extractFeatures', () => {
  test('embeds in batches, caches, and serves the second run from the cache', async () => {
    const data = await dataset(3)
    const cache = createFeatureCache(path.join(dir, 'cache'))
    let reads = 0
    const items: FeatureItem[] = data.map((d) => ({
      key: d.key,
      read: async () => {
        reads++
        return d.bytes
      },
    }))
    const before = tf.memory().numTensors
    const progress: number[] = []
    const first = await extractFeatures(base, items, { cache, batchSize: 4, maxPixels: MAX_PIXELS, onProgress: (done) => progress.push(done) })
    expect(tf.memory().numTensors).toBe(before)
    expect(reads).toBe(9)
    expect(progress).toEqual([0, 4, 8, 9])
    expect(first).toHaveLength(9)
    expect(first.every((v) => v instanceof Float32Array && v.length === 16)).toBe(true)

    // Same answer as one direct trunk call.
    const px = await decodeImage(data[4]!.bytes, SIZE, { maxPixels: MAX_PIXELS })
    const one = tf.tidy(() => (base.trunk.predict(toInputTensor([px], SIZE, base.preprocessing)) as tf.Tensor).dataSync())
    expect(Array.from(first[4]!)).toEqual(Array.from(one).map((x) => expect.closeTo(x, 5)))

    const second = await extractFeatures(base, items, { cache, maxPixels: MAX_PIXELS })
    expect(reads).toBe(9)
    expect(second.map((v) => Array.from(v))).toEqual(first.map((v) => Array.from(v)))
    expect(tf.memory().numTensors).toBe(before)
  })

  test('rejects with AbortError when aborted, and with the image error for a bad image', async () => {
    const data = await dataset(2)
    const cache = createFeatureCache(path.join(dir, 'cache-abort'))
    const controller = new AbortController()
    const items = data.map((d) => ({ key: d.key, read: async () => d.bytes }))
    const before = tf.memory().numTensors
    const run = extractFeatures(base, items, {
      cache,
      batchSize: 2,
      maxPixels: MAX_PIXELS,
      signal: controller.signal,
      onProgress: (done) => done >= 2 && controller.abort(),
    })
    await expect(run).rejects.toMatchObject({ name: 'AbortError' })
    const bad = [{ key: 'ab'.repeat(32), read: async () => new Uint8Array([1, 2, 3]) }]
    await expect(extractFeatures(base, bad, { cache, maxPixels: MAX_PIXELS })).rejects.toBeInstanceOf(AppError)
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('trainHead', () => {
  const train = blobs(90, 8, 3, 1)
  const val = blobs(30, 8, 3, 2)
  const opts = { epochs: 15, batchSize: 16, learningRate: 0.01, seed: 3, hiddenUnits: 16 }

  test('learns a separable problem, reports each epoch, leaks nothing', async () => {
    const before = tf.memory().numTensors
    const logs: number[] = []
    const { head, history } = await trainHead(train.features, train.labels, 3, { ...opts, validation: val, onEpoch: (l) => logs.push(l.epoch) })
    expect(logs).toEqual([...Array(15).keys()].map((i) => i + 1))
    const last = history.at(-1)!
    expect(last.accuracy).toBeGreaterThan(0.95)
    expect(last.valAccuracy).toBe(1)
    expect(last.valLoss).toBeLessThan(history[0]!.valLoss!)
    expect(last.seconds).toBeGreaterThanOrEqual(0)
    expect(head.outputs[0]!.shape).toEqual([null, 3])
    head.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  test('same seed → same weights; another seed → different ones', async () => {
    const weights = async (seed: number) => {
      const { head } = await trainHead(train.features, train.labels, 3, { ...opts, epochs: 3, seed })
      const values = head.getWeights().map((w) => Array.from(w.dataSync()))
      head.dispose()
      return values
    }
    const a = await weights(5)
    expect(await weights(5)).toEqual(a)
    expect(await weights(6)).not.toEqual(a)
  })

  test('early stopping keeps the best epoch; hiddenUnits 0 trains a plain softmax', async () => {
    // Validation labels that disagree with training: its loss rises as training fits, so training stops.
    const contrary = { features: val.features, labels: val.labels.map((l) => (l + 1) % 3) }
    const { head, history } = await trainHead(train.features, train.labels, 3, {
      ...opts,
      hiddenUnits: 0,
      epochs: 50,
      learningRate: 0.05,
      validation: contrary,
      earlyStopping: { patience: 2 },
    })
    expect(history.length).toBeLessThan(50)
    // The weights kept are those of the best validation epoch.
    const bestLoss = Math.min(...history.map((h) => h.valLoss!))
    const x = tf.tensor2d(contrary.features.flatMap((f) => Array.from(f)), [contrary.features.length, 8])
    const y = tf.oneHot(tf.tensor1d(contrary.labels, 'int32'), 3)
    const loss = tf.tidy(() => tf.metrics.categoricalCrossentropy(y, head.predict(x) as tf.Tensor).mean().dataSync()[0]!)
    expect(loss).toBeCloseTo(bestLoss, 4)
    tf.dispose([x, y])
    expect(head.layers.map((l) => l.name)).toEqual(['head_input', 'head_norm', 'head_output'])
    head.dispose()
  })

  test('standardize: the saved head applies the training z-scores itself', async () => {
    // Shift and stretch the features: with standardisation the head trains as well as on the originals.
    const shifted = (fs: Float32Array[]) => fs.map((f) => f.map((x) => x * 50 + 1000))
    const { head } = await trainHead(shifted(train.features), train.labels, 3, { ...opts, validation: { features: shifted(val.features), labels: val.labels } })
    const x = tf.tensor2d(shifted(val.features).flatMap((f) => Array.from(f)), [val.features.length, 8])
    const predicted = tf.tidy(() => Array.from((head.predict(x) as tf.Tensor).argMax(1).dataSync()))
    expect(predicted).toEqual(val.labels)
    x.dispose()
    head.dispose()
    const plain = await trainHead(train.features, train.labels, 3, { ...opts, epochs: 1, standardize: false })
    expect(plain.head.layers.map((l) => l.name)).not.toContain('head_norm')
    plain.head.dispose()
  })

  test('abort via signal rejects with AbortError and frees everything', async () => {
    const before = tf.memory().numTensors
    const controller = new AbortController()
    const run = trainHead(train.features, train.labels, 3, { ...opts, epochs: 100, signal: controller.signal, onEpoch: (l) => l.epoch === 2 && controller.abort() })
    await expect(run).rejects.toMatchObject({ name: 'AbortError' })
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('compose, save, store and predict', () => {
  let metadata: ModelMetadata
  let images: Buffer[]

  test('trainClassifier + composeClassifier: one model that owns its weights; save/load reproduces it', async () => {
    const data = await dataset(6)
    images = data.map((d) => d.bytes)
    const cache = createFeatureCache(path.join(dir, 'cache-train'))
    const before = tf.memory().numTensors
    const phases = new Set<string>()
    let reads = 0
    const result = await trainClassifier({
      base,
      labels: LABELS,
      // The dataset's own split: variant 0 of each class validates.
      examples: data.map((d, i) => ({ key: d.key, label: d.label, split: i % 6 === 0 ? 'val' : 'train', read: async () => (reads++, d.bytes) })),
      options: { epochs: 40, batchSize: 8, learningRate: 0.01, validationSplit: 0.2, seed: 1 },
      cache,
      maxPixels: MAX_PIXELS,
      onProgress: (p) => phases.add(p.phase),
    })
    expect([...phases]).toEqual(['extracting', 'training', 'evaluating'])
    // Each image decoded once: the duplicate search's thumbnails come from the pixels decoded for embedding.
    expect(reads).toBe(data.length)
    expect(result.trainCount).toBe(15)
    expect(result.valCount).toBe(3)
    expect(result.evaluatedOn).toBe('validation')
    expect(result.metrics.labels).toEqual(LABELS)
    expect(result.metrics.count).toBe(3)
    expect(result.history).toHaveLength(40)
    const model = result.model
    expect(model.inputs[0]!.shape).toEqual([null, SIZE, SIZE, 3])
    expect(model.outputs[0]!.shape).toEqual([null, 3])

    const x = toInputTensor(await Promise.all(images.map((b) => decodeImage(b, SIZE, { maxPixels: MAX_PIXELS }))), SIZE, base.preprocessing)
    const probs = tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][])
    expect(probs.map((row) => row.indexOf(Math.max(...row)))).toEqual(data.map((d) => d.label))

    // Export and reload: same probabilities.
    const out = path.join(dir, 'exported')
    await saveModel(model, out)
    const loaded = await tf.loadLayersModel(fileLoadHandler(path.join(out, 'model.json')))
    const again = tf.tidy(() => (loaded.predict(x) as tf.Tensor).arraySync() as number[][])
    again.forEach((row, i) => row.forEach((p, j) => expect(p).toBeCloseTo(probs[i]![j]!, 5)))
    loaded.dispose()

    // Store it for the predictor tests.
    metadata = {
      id: 'tiny-model',
      createdAt: new Date().toISOString(),
      labels: LABELS,
      base: { id: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing },
      metrics: result.metrics,
      history: result.history,
    }
    await createModelStore(path.join(dir, 'models')).save('tiny-model', await modelToFiles(model), metadata)

    // The classifier owns its weights: disposing it leaves the base whole, and no tensor is left behind.
    model.dispose()
    x.dispose()
    expect(tf.memory().numTensors).toBe(before)
    tf.tidy(() => base.trunk.predict(tf.zeros([1, SIZE, SIZE, 3])))
  })

  test('model store: metadata, list, load, remove', async () => {
    const store = createModelStore(path.join(dir, 'models'))
    expect(await store.getMetadata('tiny-model')).toEqual(metadata)
    expect((await store.list()).map((m) => m.id)).toEqual(['tiny-model'])
    expect(await store.getMetadata('nope')).toBeUndefined()
    expect(await store.getMetadata('../etc')).toBeUndefined()
    await expect(store.load('nope')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
    const files = await store.load('tiny-model')
    const model = await modelFromFiles(files)
    expect(model.outputs[0]!.shape).toEqual([null, 3])
    model.dispose()
    await store.save('other', files, { ...metadata, id: 'other' })
    await expect(store.save('other', files, { ...metadata, id: 'other' })).rejects.toThrow() // never overwritten
    expect((await store.list()).map((m) => m.id).sort()).toEqual(['other', 'tiny-model'])
    expect(await store.remove('other')).toBe(true)
    expect(await store.remove('other')).toBe(false)
  })

  test('predictor: topK sorted, one load under concurrent first requests, tensors flat, LRU eviction', async () => {
    const store = createModelStore(path.join(dir, 'models'))
    let loads = 0
    const counting = { ...store, load: (id: string) => (loads++, store.load(id)) }
    const predictor = createPredictor({ models: counting, maxLoaded: 1, maxPixels: MAX_PIXELS })
    const start = tf.memory().numTensors

    const [a, b] = await Promise.all([predictor.predict('tiny-model', [images[0]!], 2), predictor.predict('tiny-model', [images[6]!, images[12]!], 5)])
    expect(loads).toBe(1)
    expect(a).toHaveLength(1)
    expect(a[0]).toHaveLength(2)
    expect(a[0]![0]!.label).toBe('red')
    expect(a[0]![0]!.score).toBeGreaterThanOrEqual(a[0]![1]!.score)
    expect(b.map((r) => r[0]!.label)).toEqual(['green', 'blue'])
    expect(b[0]).toHaveLength(3) // topK clamped to the number of labels
    expect(b[0]!.reduce((s, p) => s + p.score, 0)).toBeCloseTo(1, 4)

    const loaded = tf.memory().numTensors
    await predictor.predict('tiny-model', images, 1)
    expect(tf.memory().numTensors).toBe(loaded)

    await expect(predictor.predict('missing', [images[0]!], 1)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
    await expect(predictor.predict('tiny-model', [Buffer.from('nope')], 1)).rejects.toMatchObject({ code: 'IMAGE_INVALID' })
    expect(tf.memory().numTensors).toBe(loaded)

    // maxLoaded 1: a second model evicts the first.
    await store.save('tiny-copy', await store.load('tiny-model'), { ...metadata, id: 'tiny-copy' })
    await predictor.predict('tiny-copy', [images[0]!], 1)
    await new Promise(setImmediate)
    expect(loads).toBe(2)
    expect(tf.memory().numTensors).toBe(loaded)
    await predictor.close()
    expect(tf.memory().numTensors).toBe(start)
  })
})
