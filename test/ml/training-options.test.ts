/**
 * Training options on a tiny base shaped like MobileNetV2's top (conv → BN → depthwise → BN → pointwise conv):
 * fine-tuning from cached activations, cached augmented views, class weights, reproducibility.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase, type LayersBase } from '../../src/ml/bases.js'
import { saveModel } from '../helpers/model-files.js'
import { seededRandom } from '../../src/ml/random.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/ml/checkpoint-codec.js'
import { bestTracker, type HeadCheckpoint } from '../../src/ml/train.js'
import { resolveClassWeights, trainClassifier, type TrainClassifierOptions, type TrainExample } from '../../src/ml/train-classifier.js'
import { createCheckpointStore } from '../../src/storage/checkpoints.js'
import { createFeatureCache } from '../../src/storage/features.js'
import { THUMBNAIL_CACHE_ID } from '../../src/ml/thumbnails.js'

const SIZE = 32
const MAX_PIXELS = 1_000_000
const LABELS = ['red', 'green', 'blue']
const COLOURS = [
  [230, 30, 30],
  [30, 200, 40],
  [40, 40, 220],
]
const BASE_OPTIONS: TrainClassifierOptions = { epochs: 8, batchSize: 8, learningRate: 0.01, validationSplit: 0.25, seed: 7 }

let dir: string
let base: LayersBase

async function writeTinyBase(target: string): Promise<string> {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed })
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [SIZE, SIZE, 3], filters: 8, kernelSize: 3, strides: 2, name: 'conv1', kernelInitializer: init(1) }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.reLU({ maxValue: 6, name: 'relu1' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw', depthwiseInitializer: init(2) }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.reLU({ maxValue: 6, name: 'relu2' }),
      tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'pw', kernelInitializer: init(3), activation: 'relu' }),
      tf.layers.globalAveragePooling2d({ name: 'pool' }),
      tf.layers.dense({ units: 5, activation: 'softmax', name: 'orig_head', kernelInitializer: init(4) }),
    ],
  })
  // Non-trivial BatchNorm statistics, so "unchanged" means something.
  for (const name of ['bn1', 'bn2']) {
    const bn = model.getLayer(name)
    tf.tidy(() => bn.setWeights(bn.getWeights().map((w, i) => tf.add(w, tf.scalar(0.1 * (i + 1))))))
  }
  await saveModel(model, target)
  model.dispose()
  return path.join(target, 'model.json')
}

/** A noisy solid-colour PNG with a bright square whose corner moves with `v`. */
async function image(c: number, v: number): Promise<Buffer> {
  const size = 40
  const random = seededRandom(c * 1000 + v)
  const raw = Buffer.alloc(size * size * 3)
  for (let i = 0; i < size * size; i++) {
    for (let ch = 0; ch < 3; ch++) raw[i * 3 + ch] = Math.max(0, Math.min(255, COLOURS[c]![ch]! + (random() - 0.5) * 80))
  }
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer()
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

async function examples(perClass: number[], split?: (c: number, v: number) => 'train' | 'val'): Promise<TrainExample[]> {
  const out: TrainExample[] = []
  for (let c = 0; c < perClass.length; c++) {
    for (let v = 0; v < perClass[c]!; v++) {
      const bytes = await image(c, v)
      out.push({ key: sha256(bytes), label: c, path: `${LABELS[c]}/${v}.png`, split: split?.(c, v), read: async () => bytes })
    }
  }
  return out
}

function weightsOf(model: tf.LayersModel | tf.GraphModel, layer: string): number[][] {
  // The tiny test base is a LayersModel, so its classifier is one too.
  return (model as tf.LayersModel).getLayer(layer).getWeights().map((w) => Array.from(w.dataSync()))
}

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-options-'))
  base = (await loadBase({ url: await writeTinyBase(path.join(dir, 'tiny')) }, path.join(dir, 'bases'))) as LayersBase
})

afterAll(async () => {
  base?.dispose()
  await rm(dir, { recursive: true, force: true })
})

test('fineTuneLayers trains the top layers from cached activations; frozen layers, BatchNorm and the base stay as they were', async () => {
  const data = await examples([8, 8, 8])
  const cache = createFeatureCache(path.join(dir, 'cache-ft'))
  const trunkBefore = Object.fromEntries(['conv1', 'bn1', 'dw', 'bn2', 'pw'].map((l) => [l, weightsOf(base.trunk, l)]))
  const before = tf.memory().numTensors
  const result = await trainClassifier({ base, labels: LABELS, examples: data, options: { ...BASE_OPTIONS, fineTuneLayers: 2 }, cache, maxPixels: MAX_PIXELS })

  expect(result.fineTuned).toEqual({ cutLayer: 'relu1', layers: ['dw', 'pw'] })
  const tuned = result.history.filter((h) => h.phase === 'fineTune')
  expect(tuned).toHaveLength(2) // fineTuneEpochs(8)
  expect(tuned[0]!.epoch).toBe(9)
  expect(tuned[0]!.learningRate).toBeCloseTo(0.001)
  // Fine-tuning beat the head on validation (else its weights would be the head's, checked below).
  expect(result.bestEpoch).toBeGreaterThanOrEqual(9)
  // The tuned layers moved, the rest did not: compare the saved classifier with the untouched base.
  for (const layer of ['dw', 'pw']) expect(weightsOf(result.model as tf.LayersModel, layer)).not.toEqual(trunkBefore[layer])
  for (const layer of ['conv1', 'bn1', 'bn2']) expect(weightsOf(result.model as tf.LayersModel, layer)).toEqual(trunkBefore[layer])
  for (const [layer, w] of Object.entries(trunkBefore)) expect(weightsOf(base.trunk, layer)).toEqual(w)
  // Activations were cached under their own folder, next to no plain features (and the near-duplicate thumbnails).
  const folders = await readdir(path.join(dir, 'cache-ft'))
  expect(folders.filter((f) => f !== THUMBNAIL_CACHE_ID)).toEqual([expect.stringMatching(/^url-[0-9a-f]{16}-at-[0-9a-f]{8}$/)])
  result.model.dispose()
  expect(tf.memory().numTensors).toBe(before)
})

test('a run stopped during fine-tuning resumes from its stored checkpoint there and ends where the uninterrupted run ends', async () => {
  const data = await examples([8, 8, 8])
  const cache = createFeatureCache(path.join(dir, 'cache-ft-resume'))
  const options: TrainClassifierOptions = { ...BASE_OPTIONS, epochs: 12, fineTuneLayers: 2 } // 3 fine-tuning epochs
  const store = createCheckpointStore(path.join(dir, 'jobs'))
  const states: HeadCheckpoint[] = []
  const whole = await trainClassifier({ base, labels: LABELS, examples: data, options, cache, maxPixels: MAX_PIXELS, onCheckpoint: (c) => void states.push(c) })
  const headEpochs = whole.history.filter((h) => h.phase !== 'fineTune').length
  const during = states.filter((c) => c.fineTune)
  expect(during.map((c) => c.epoch)).toEqual([headEpochs + 1, headEpochs + 2, headEpochs + 3])

  // Through the store, as a crashed worker's successor reads it.
  await store.save('ft-job', encodeCheckpoint('ft-model', during[0]!))
  const stored = decodeCheckpoint(await store.load('ft-job'), 'ft-model')!
  expect(stored.fineTune).toEqual({ headEpochs, headBestEpoch: expect.any(Number) })
  const before = tf.memory().numTensors
  const ran: number[] = []
  const resumed = await trainClassifier({
    base,
    labels: LABELS,
    examples: data,
    options,
    cache,
    maxPixels: MAX_PIXELS,
    resumeFrom: stored,
    onProgress: (p) => void (p.log && ran.push(p.log.epoch)),
  })
  expect(ran).toEqual([headEpochs + 2, headEpochs + 3]) // neither the head nor the first fine-tuning epoch again
  expect(resumed.history.map((h) => h.epoch)).toEqual(whole.history.map((h) => h.epoch))
  expect(resumed.history.at(-1)!.loss).toBeCloseTo(whole.history.at(-1)!.loss, 4)
  expect(resumed.bestEpoch).toBe(whole.bestEpoch)
  for (const layer of ['dw', 'pw', 'head_output']) {
    const a = weightsOf(whole.model, layer).flat()
    const b = weightsOf(resumed.model, layer).flat()
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeLessThan(1e-4)
  }
  resumed.model.dispose()
  expect(tf.memory().numTensors).toBe(before)
  whole.model.dispose()
})

test('refit serves a head trained on every image for the scored run\'s epochs; metrics stay the scored head\'s; a dataset\'s own val/ stays held out', async () => {
  const data = await examples([8, 8, 8])
  const cache = createFeatureCache(path.join(dir, 'cache-refit'))
  const run = (refit: boolean, set = data) => trainClassifier({ base, labels: LABELS, examples: set, options: { ...BASE_OPTIONS, refit }, cache, maxPixels: MAX_PIXELS })
  const before = tf.memory().numTensors
  const scored = await run(false)
  const refit = await run(true)
  expect(refit.metrics).toEqual(scored.metrics)
  expect(refit.history.map((h) => h.loss)).toEqual(scored.history.map((h) => h.loss))
  expect(refit.valCount).toBe(6)
  // The served head differs, down to its standardisation, whose mean now covers the 6 validation images too.
  for (const layer of ['head_norm', 'head_hidden', 'head_output']) expect(weightsOf(refit.model, layer)).not.toEqual(weightsOf(scored.model, layer))
  scored.model.dispose()
  refit.model.dispose()

  const ownSplit = data.map((e, i) => ({ ...e, split: i % 4 === 0 ? ('val' as const) : ('train' as const) }))
  const [kept, asked] = [await run(false, ownSplit), await run(true, ownSplit)]
  for (const layer of ['head_norm', 'head_hidden', 'head_output']) expect(weightsOf(asked.model, layer)).toEqual(weightsOf(kept.model, layer))
  kept.model.dispose()
  asked.model.dispose()
  expect(tf.memory().numTensors).toBe(before)
})

test('fineTuneLayers beyond the base is OPTIONS_INVALID', async () => {
  const data = await examples([3, 3])
  const cache = createFeatureCache(path.join(dir, 'cache-bad'))
  const run = trainClassifier({ base, labels: LABELS.slice(0, 2), examples: data, options: { ...BASE_OPTIONS, fineTuneLayers: 4 }, cache, maxPixels: MAX_PIXELS })
  await expect(run).rejects.toMatchObject({ code: 'OPTIONS_INVALID' })
})

test('augmented views are embedded once, for training images only, and reused by the next job', async () => {
  const data = await examples([6, 6, 6])
  const reads = { n: 0 }
  const counted = data.map((e) => ({ ...e, read: async () => (reads.n++, e.read()) }))
  const cache = createFeatureCache(path.join(dir, 'cache-aug'))
  const augment = { flip: true, crop: true, rotate: true, brightness: true, contrast: true, views: 2 }
  const run = () => trainClassifier({ base, labels: LABELS, examples: counted, options: { ...BASE_OPTIONS, epochs: 2, augment }, cache, maxPixels: MAX_PIXELS })
  const first = await run()
  expect(first.trainCount + first.valCount).toBe(18)
  expect(first.trainViews).toBe(first.trainCount * 3)
  const files = await readdir(path.join(dir, 'cache-aug', base.id))
  expect(files).toHaveLength(18 + 2 * first.trainCount)
  expect(files.filter((f) => /-aug[12]-[0-9a-f]{8}\.bin$/.test(f))).toHaveLength(2 * first.trainCount)
  first.model.dispose()
  const readsAfterFirst = reads.n
  const second = await run()
  expect(reads.n).toBe(readsAfterFirst) // every view came from the cache
  expect(second.metrics).toEqual(first.metrics)
  second.model.dispose()
})

test('an imbalanced set trains with balanced weights; a class without validation images is reported, not divided by zero', async () => {
  // blue has 3 images, all for training; red and green have 12, a quarter of them validating.
  const data = await examples([12, 12, 3], (c, v) => (c < 2 && v % 4 === 0 ? 'val' : 'train'))
  const cache = createFeatureCache(path.join(dir, 'cache-imb'))
  const result = await trainClassifier({ base, labels: LABELS, examples: data, options: BASE_OPTIONS, cache, maxPixels: MAX_PIXELS })
  expect(result.classWeights!.blue).toBeCloseTo(21 / (3 * 3))
  expect(result.classWeights!.red).toBeCloseTo(21 / (3 * 9))
  expect(result.metrics.classesWithoutSupport).toEqual(['blue'])
  expect(result.bestEpoch).toBe(8) // no early stopping: the last epoch's weights
  expect(result.metrics.perClass[2]).toMatchObject({ label: 'blue', support: 0, recall: null })
  expect(result.metrics.confusionByLabel.red).toEqual({ red: expect.any(Number), green: expect.any(Number), blue: expect.any(Number) })
  expect(result.warnings).toEqual(
    expect.arrayContaining([
      "class 'blue' has only 3 images; at least 5 recommended",
      "training classes are imbalanced: 'red' has 9 images, 'blue' has 3",
      "class 'blue' has no validation images: its recall is not measured",
    ]),
  )
  expect(JSON.stringify(result.metrics)).not.toMatch(/NaN|Infinity/)
  result.model.dispose()
})

test('same seed and options → same metrics and history; misclassified images carry their dataset path', async () => {
  const data = await examples([6, 6, 6], (_c, v) => (v < 4 ? 'train' : 'val'))
  // A validation image copied into another class, also in validation: the model answers both copies alike, so at
  // least one of them is a mistake the list must hold.
  data.push({ ...data[4]!, label: 1, path: 'green/copy-of-red-4.png' })
  const cache = createFeatureCache(path.join(dir, 'cache-seed'))
  const options: TrainClassifierOptions = { ...BASE_OPTIONS, optimizer: 'sgd', labelSmoothing: 0.1, earlyStopping: { patience: 3, monitor: 'valAccuracy', minDelta: 0.01 } }
  const run = () => trainClassifier({ base, labels: LABELS, examples: data, options, cache, maxPixels: MAX_PIXELS })
  const a = await run()
  const b = await run()
  const strip = (h: typeof a.history) => h.map(({ seconds: _s, ...rest }) => rest)
  expect(b.metrics).toEqual(a.metrics)
  expect(strip(b.history)).toEqual(strip(a.history))
  expect(b.bestEpoch).toBe(a.bestEpoch)
  expect(a.history.every((h) => h.learningRate === 0.01 && h.seconds >= 0)).toBe(true)
  expect(a.warnings.some((w) => w.startsWith("identical image in classes 'red' and 'green'"))).toBe(true)
  expect(a.misclassified.length).toBeGreaterThan(0)
  expect(a.misclassified.map((m) => m.path)).toEqual(expect.arrayContaining([expect.stringMatching(/^(red\/4|green\/copy-of-red-4)\.png$/)]))
  expect(a.misclassified.every((m) => /^(red|green|blue)\//.test(m.path) && m.true !== m.predicted)).toBe(true)
  a.model.dispose()
  b.model.dispose()
})

describe('pure pieces', () => {
  test('bestTracker: valAccuracy with minDelta, patience', () => {
    const t = bestTracker({ patience: 2, monitor: 'valAccuracy', minDelta: 0.05 })
    expect(t.observe({ epoch: 1, valAccuracy: 0.5 })).toBe('improved')
    expect(t.observe({ epoch: 2, valAccuracy: 0.54 })).toBe('waiting') // not by more than minDelta
    expect(t.observe({ epoch: 3, valAccuracy: 0.6 })).toBe('improved')
    expect(t.observe({ epoch: 4, valAccuracy: 0.6 })).toBe('waiting')
    expect(t.observe({ epoch: 5, valAccuracy: 0.1 })).toBe('stop')
    expect(t.bestEpoch()).toBe(3)
    const loss = bestTracker(undefined)
    expect(loss.observe({ epoch: 1, valLoss: 1 })).toBe('improved')
    expect(loss.observe({ epoch: 2, valLoss: 2 })).toBe('waiting')
    expect(loss.observe({ epoch: 3 })).toBe('waiting')
    expect(loss.bestEpoch()).toBe(1)
  })

  test('resolveClassWeights: auto is balanced only from 3×, explicit weights by name', () => {
    expect(resolveClassWeights('auto', ['a', 'b'], [0, 0, 1])).toBeUndefined()
    expect(resolveClassWeights('auto', ['a', 'b'], [0, 0, 0, 1])).toEqual({ a: 4 / 6, b: 2 })
    expect(resolveClassWeights('none', ['a', 'b'], [0, 0, 0, 1])).toBeUndefined()
    expect(resolveClassWeights({ b: 3 }, ['a', 'b'], [0, 1])).toEqual({ a: 1, b: 3 })
    expect(() => resolveClassWeights({ c: 3 }, ['a', 'b'], [0, 1])).toThrow(expect.objectContaining({ code: 'VALIDATION', details: { unknown: ['c'], classes: ['a', 'b'] } }))
  })
})
