/** End to end on the real bundled MobileNetV2 (nsfwjs): extraction, features, training, prediction. */
import { createHash } from 'node:crypto'
import { modelToFiles } from '../../src/ml/file-io.js'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase } from '../../src/ml/bases.js'
import { decodeImage, toInputTensor } from '../../src/ml/image.js'
import { runnableClassifier } from '../../src/ml/fast-classifier.js'
import { createPredictor } from '../../src/ml/predictor.js'
import { trainClassifier } from '../../src/ml/train-classifier.js'
import { splitTrunk } from '../../src/ml/trunk-split.js'
import { createFeatureCache } from '../../src/storage/features.js'
import { createModelStore } from '../../src/storage/models.js'
import { SHAPE_LABELS, shapePng } from '../helpers/images.js'

const MAX_PIXELS = 4_000_000
const LABELS = [...SHAPE_LABELS]

const png = (c: number, v: number) => shapePng(c, v, 26)

let dir: string

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-mnv2-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('MobileNetV2: extract once, embed to 1280-d, train 3 classes, predict them, leak nothing', async () => {
  const baseline = tf.memory().numTensors
  const basesDir = path.join(dir, 'bases')
  // Two loads racing on an empty folder: one extraction wins, both load.
  const [base, twin] = await Promise.all([loadBase('mobilenet_v2', basesDir), loadBase('mobilenet_v2', basesDir)])
  twin.dispose()
  expect((await stat(path.join(basesDir, 'mobilenet_v2', 'weights.bin'))).size).toBe(2_619_461)
  expect(JSON.parse(await readFile(path.join(basesDir, 'mobilenet_v2', 'model.json'), 'utf8')).weightsManifest[0].paths).toEqual(['weights.bin'])
  expect(base).toMatchObject({ id: 'mobilenet_v2', inputSize: 224, featureSize: 1280, featureLayer: 'flatten_1', preprocessing: 'scale_0_1' })

  const pixels = await decodeImage(await png(0, 0), 224, { maxPixels: MAX_PIXELS })
  expect(pixels.length).toBe(224 * 224 * 3)
  const shape = tf.tidy(() => (base.trunk.predict(toInputTensor([pixels, pixels], 224, 'scale_0_1')) as tf.Tensor).shape)
  expect(shape).toEqual([2, 1280])

  const examples = []
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 8; v++) {
      const bytes = await png(c, v)
      examples.push({ key: createHash('sha256').update(bytes).digest('hex'), label: c, read: async () => bytes })
    }
  }
  const cache = createFeatureCache(path.join(dir, 'cache'))
  const result = await trainClassifier({
    base,
    labels: LABELS,
    examples,
    options: { epochs: 30, batchSize: 8, learningRate: 0.005, validationSplit: 0.25, seed: 1 },
    cache,
    maxPixels: MAX_PIXELS,
  })
  expect(result.trainCount).toBe(18)
  expect(result.valCount).toBe(6)
  expect(result.metrics.accuracy).toBe(1)

  const models = createModelStore(path.join(dir, 'models'))
  await models.save('shapes', await modelToFiles(result.model), {
    id: 'shapes',
    createdAt: new Date().toISOString(),
    labels: LABELS,
    base: { id: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing },
    metrics: result.metrics,
    history: result.history,
  })
  // Predictions run the stored classifier's trunk on fused ops; they must match the LayersModel.
  const runnable = runnableClassifier(result.model as tf.LayersModel)
  expect(runnable.fast).toBe(true)
  const decoded = await Promise.all([png(0, 20), png(1, 21), png(2, 22)].map(async (p) => decodeImage(await p, base.inputSize, { maxPixels: MAX_PIXELS })))
  const gap = tf.tidy(() => {
    const batch = toInputTensor(decoded, base.inputSize, base.preprocessing)
    return tf.max(tf.abs(tf.sub(result.model.predict(batch) as tf.Tensor, runnable.predict(batch))))
  })
  expect((await gap.data())[0]).toBeLessThan(1e-4)
  gap.dispose()
  runnable.dispose()
  result.model.dispose()
  base.dispose()
  expect(tf.memory().numTensors).toBe(baseline)

  // Unseen variants, through the stored model and the predictor.
  const predictor = createPredictor({ models, maxPixels: MAX_PIXELS })
  const fresh = await Promise.all([png(0, 9), png(1, 10), png(2, 11)])
  const predictions = await predictor.predict('shapes', fresh, 2)
  expect(predictions.map((p) => p[0]!.label)).toEqual(LABELS)
  await predictor.close()
  expect(tf.memory().numTensors).toBe(baseline)
})

test('MobileNetV2 split for fine-tuning: the cut skips residual blocks, and below → top equals the trunk', async () => {
  const base = await loadBase('mobilenet_v2', path.join(dir, 'bases'))
  const before = tf.memory().numTensors
  const x = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 5)
  const expected = tf.tidy(() => (base.trunk.predict(x) as tf.Tensor).dataSync())
  // 2: Conv_1 and block_16_project, cut right below them. 5 reaches block_15_project, inside a residual
  // block (block_15_add adds block_14_add), so the cut falls back to block_14_add.
  for (const [n, cut, tuned] of [
    [2, 'block_16_depthwise_relu', ['block_16_project', 'Conv_1']],
    [5, 'block_14_add', ['block_15_project', 'block_16_expand', 'block_16_depthwise', 'block_16_project', 'Conv_1']],
  ] as const) {
    const split = splitTrunk(base.trunk, base.id, n)
    expect(split.cutLayer).toBe(cut)
    expect(split.tuned.map((l) => l.name)).toEqual(tuned)
    const actual = tf.tidy(() => (split.top.predict(split.below.predict(x) as tf.Tensor) as tf.Tensor).dataSync())
    let maxDiff = 0
    for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!))
    expect(maxDiff).toBeLessThan(1e-4)
    split.dispose()
  }
  x.dispose()
  expect(tf.memory().numTensors).toBe(before)
  base.dispose()
})

