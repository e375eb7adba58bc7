/**
 * The bundled GraphModel base (`mobilenet_v3_coco`, @vladmandic/human's COCO MobileNetV3-CenterNet): the real
 * graph loads, features are the same in a batch and one by one, a head trains on it, the classifier is one
 * GraphModel that the store saves and the predictor serves, and the same graph loads as a base by path.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../../src/ml/backend.js'
import { baseId, loadBase, loadGraphBase, type GraphBase } from '../../src/ml/bases.js'
import { runnableClassifier } from '../../src/ml/fast-classifier.js'
import { PROBS_NODE } from '../../src/ml/graph-export.js'
import type { GraphTopology } from '../../src/ml/graph-base.js'
import { decodeImage, toInputTensor } from '../../src/ml/image.js'
import { bytesLoadHandler, modelFromFiles, modelToFiles } from '../../src/ml/file-io.js'
import { createPredictor } from '../../src/ml/predictor.js'
import { trainClassifier } from '../../src/ml/train-classifier.js'
import { createFeatureCache } from '../../src/storage/features.js'
import { createModelStore } from '../../src/storage/models.js'
import { SHAPE_LABELS, shapePng } from '../helpers/images.js'

const MAX_PIXELS = 4_000_000
const LABELS = [...SHAPE_LABELS]
const NODE = 'tower_0/extern1/hard_swish/mul_1'
const CENTERNET_JSON = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models', 'centernet.json')

const png = (c: number, v: number) => shapePng(c, v, 22)
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0)

let dir: string
let base: GraphBase

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-graph-base-'))
  base = await loadBase('mobilenet_v3_coco', path.join(dir, 'bases'))
})

afterAll(async () => {
  base?.dispose()
  await rm(dir, { recursive: true, force: true })
})

test('the bundled COCO MobileNetV3 loads as a 480-d, 320 px, raw-pixel GraphModel base with a free input shape', async () => {
  expect(base).toMatchObject({ kind: 'graph', id: 'mobilenet_v3_coco', inputSize: 320, featureSize: 480, preprocessing: 'raw_0_255', featureLayer: NODE })
  // The package pins [1, 512, 512, 3]; the loaded graph takes any batch and size.
  const pinned = JSON.parse(await readFile(CENTERNET_JSON, 'utf8')) as { modelTopology: GraphTopology }
  const dims = (n: GraphTopology['node'][number]) => (n.attr!.shape as { shape: { dim: { size: string }[] } }).shape.dim.map((d) => Number(d.size))
  expect(dims(pinned.modelTopology.node.find((n) => n.op === 'Placeholder')!)).toEqual([1, 512, 512, 3])
  expect(dims((base.graph.modelTopology as GraphTopology).node.find((n) => n.op === 'Placeholder')!)).toEqual([-1, -1, -1, 3])
})

test('features of a batch equal those of its images one by one, and differ between images', async () => {
  const before = tf.memory().numTensors
  const pixels = await Promise.all([png(0, 1), png(1, 2), png(2, 3), png(0, 4)].map(async (p) => decodeImage(await p, 320, { maxPixels: MAX_PIXELS })))
  const batch = tf.tidy(() => base.embed(toInputTensor(pixels, 320, 'raw_0_255')).dataSync() as Float32Array)
  expect(batch.length).toBe(4 * 480)
  for (let i = 0; i < pixels.length; i++) {
    const one = tf.tidy(() => base.embed(toInputTensor([pixels[i]!], 320, 'raw_0_255')).dataSync() as Float32Array)
    expect(maxDiff(one, batch.subarray(i * 480, (i + 1) * 480))).toBeLessThanOrEqual(1e-5)
  }
  // Not a constant map: a red disc and green square are far apart.
  expect(maxDiff(batch.subarray(0, 480), batch.subarray(480, 960))).toBeGreaterThan(0.1)
  expect(tf.memory().numTensors).toBe(before)
})

test('a head trains on it; the classifier is one pruned GraphModel that the store saves and the predictor serves', async () => {
  const baseline = tf.memory().numTensors
  const examples = []
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 6; v++) {
      const bytes = await png(c, v)
      examples.push({ key: createHash('sha256').update(bytes).digest('hex'), label: c, read: async () => bytes })
    }
  }
  const result = await trainClassifier({
    base,
    labels: LABELS,
    examples,
    options: { epochs: 20, batchSize: 8, learningRate: 0.005, validationSplit: 0.34, seed: 1, hiddenUnits: 16 },
    cache: createFeatureCache(path.join(dir, 'cache')),
    maxPixels: MAX_PIXELS,
  })
  expect(result.metrics.accuracy).toBe(1)
  const model = result.model as tf.GraphModel
  expect(model).toBeInstanceOf(tf.GraphModel)
  expect(model.outputs.map((o) => o.name)).toEqual([PROBS_NODE])

  const models = createModelStore(path.join(dir, 'models'))
  await models.save('shapes', await modelToFiles(model), {
    id: 'shapes',
    createdAt: new Date().toISOString(),
    labels: LABELS,
    base: { id: base.id, inputSize: 320, preprocessing: base.preprocessing, format: 'graph-model' },
    metrics: result.metrics,
    history: result.history,
  })
  const stored = JSON.parse((await models.load('shapes'))['model.json']!.toString())
  expect(stored).toMatchObject({ format: 'graph-model', signature: { outputs: { probs: { name: PROBS_NODE } } } })
  // Only the backbone up to the feature node, then our ops: the CenterNet head (and its weights) is gone.
  const nodes = (stored.modelTopology as GraphTopology).node.map((n) => n.name)
  expect(nodes).toContain(NODE)
  expect(nodes).toContain(PROBS_NODE)
  expect(nodes.filter((n) => /^tower_0\/(detections|keypoints|wh)/.test(n))).toEqual([])

  // The composed graph gives what the base's features through the trained head's probabilities would: the
  // reloaded model, run the way a browser runs it (predict), on unseen images.
  const fresh = await Promise.all([png(0, 9), png(1, 10), png(2, 11)])
  const decoded = await Promise.all(fresh.map((p) => decodeImage(p, 320, { maxPixels: MAX_PIXELS })))
  const reloaded = await modelFromFiles(await models.load('shapes'))
  expect(reloaded).toBeInstanceOf(tf.GraphModel)
  const runnable = runnableClassifier(reloaded)
  const [a, b] = tf.tidy(() => {
    const x = toInputTensor(decoded, 320, base.preprocessing)
    return [model.predict(x) as tf.Tensor, runnable.predict(x)].map((t) => t.dataSync() as Float32Array)
  })
  expect(a!.length).toBe(9)
  expect(maxDiff(a!, b!)).toBeLessThan(1e-6)
  for (let i = 0; i < 3; i++) expect(a!.subarray(i * 3, i * 3 + 3).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5)
  runnable.dispose()
  reloaded.dispose()
  model.dispose()
  expect(tf.memory().numTensors).toBe(baseline)

  const predictor = createPredictor({ models, maxPixels: MAX_PIXELS })
  const predictions = await predictor.predict('shapes', fresh, 1)
  expect(predictions.map((p) => p[0]!.label)).toEqual(LABELS)
  await predictor.close()
  expect(tf.memory().numTensors).toBe(baseline)
})

test('GraphModel bases train the head only: fineTuneLayers is OPTIONS_INVALID', async () => {
  const bytes = await png(0, 0)
  const examples = [0, 1, 0, 1].map((label, i) => ({ key: `k${i}`, label, read: async () => bytes }))
  await expect(
    trainClassifier({
      base,
      labels: ['a', 'b'],
      examples,
      options: { epochs: 1, batchSize: 2, learningRate: 0.01, validationSplit: 0, seed: 1, fineTuneLayers: 2 },
      cache: createFeatureCache(path.join(dir, 'cache-ft')),
      maxPixels: MAX_PIXELS,
    }),
  ).rejects.toMatchObject({ code: 'OPTIONS_INVALID' })
})

test('any GraphModel by path is a base given its node and input size; a bad node or a missing one is BASE_MODEL_INVALID', async () => {
  const byPath = await loadBase({ url: CENTERNET_JSON, featureLayer: NODE, inputSize: 320, preprocessing: 'raw_0_255' }, path.join(dir, 'bases'))
  try {
    expect(byPath).toMatchObject({ kind: 'graph', featureSize: 480, inputSize: 320 })
    expect(byPath.id).toMatch(/^url-[0-9a-f]{16}$/)
    // Another size or node of the same file embeds differently, so it must not share the feature cache.
    expect(baseId({ url: CENTERNET_JSON, featureLayer: NODE, inputSize: 224, preprocessing: 'raw_0_255' })).not.toBe(byPath.id)
    expect(baseId({ url: CENTERNET_JSON, featureLayer: 'tower_0/extern1/hard_swish/mul', inputSize: 320, preprocessing: 'raw_0_255' })).not.toBe(byPath.id)
    const pixels = [await decodeImage(await png(1, 1), 320, { maxPixels: MAX_PIXELS })]
    const [x, y] = tf.tidy(() => {
      const input = toInputTensor(pixels, 320, 'raw_0_255')
      return [byPath.embed(input), base.embed(input)].map((t) => t.dataSync() as Float32Array)
    })
    expect(maxDiff(x!, y!)).toBe(0)
  } finally {
    byPath.dispose()
  }
  const bases = path.join(dir, 'bases')
  await expect(loadBase({ url: CENTERNET_JSON, inputSize: 320 }, bases)).rejects.toMatchObject({ code: 'BASE_MODEL_INVALID' })
  await expect(loadBase({ url: CENTERNET_JSON, featureLayer: 'no/such/node', inputSize: 320 }, bases)).rejects.toMatchObject({ code: 'BASE_MODEL_INVALID' })
})

test('a GraphModel base loads from bytes in memory (model.json + weight files), as an uploaded base would', async () => {
  const files = { 'centernet.bin': new Uint8Array(await readFile(path.join(path.dirname(CENTERNET_JSON), 'centernet.bin'))) }
  const handler = bytesLoadHandler(await readFile(CENTERNET_JSON), files)
  const uploaded = await loadGraphBase('uploaded-test', handler, { featureNode: NODE, inputSize: 320, preprocessing: 'raw_0_255' })
  try {
    expect(uploaded).toMatchObject({ kind: 'graph', id: 'uploaded-test', featureSize: 480 })
    const pixels = [await decodeImage(await png(2, 1), 320, { maxPixels: MAX_PIXELS })]
    const [x, y] = tf.tidy(() => {
      const input = toInputTensor(pixels, 320, 'raw_0_255')
      return [uploaded.embed(input), base.embed(input)].map((t) => t.dataSync() as Float32Array)
    })
    expect(maxDiff(x!, y!)).toBe(0)
  } finally {
    uploaded.dispose()
  }
  await expect(loadGraphBase('broken', bytesLoadHandler(await readFile(CENTERNET_JSON), {}), { featureNode: NODE, inputSize: 320, preprocessing: 'raw_0_255' })).rejects.toMatchObject({
    code: 'BASE_MODEL_INVALID',
    message: expect.stringContaining('centernet.bin'),
  })
})
