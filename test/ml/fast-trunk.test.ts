/** The fused trunk must compute what the LayersModel computes, on the real MobileNetV2 and on a tiny model. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase } from '../../src/ml/bases.js'
import { compileFastTrunk } from '../../src/ml/fast-trunk.js'

let dir: string

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-fast-trunk-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!)
}

test('MobileNetV2: every BatchNorm folded, same features as the LayersModel (max |diff| ≤ 1e-4), no leak', async () => {
  const baseline = tf.memory().numTensors
  const base = await loadBase('mobilenet_v2', path.join(dir, 'bases'))
  const loaded = tf.memory().numTensors

  const compiled = compileFastTrunk(base.trunk)
  if (!('trunk' in compiled)) throw new Error(`not compiled: ${compiled.unsupported}`)
  // 52 convolutions, each with a folded kernel and a bias: the 52 BatchNorms left no op or weight of their own.
  expect(tf.memory().numTensors - loaded).toBe(52 * 2)

  const x = tf.randomUniform([3, 224, 224, 3], 0, 1, 'float32', 7) as tf.Tensor4D
  const want = base.trunk.predict(x) as tf.Tensor
  const got = compiled.trunk.predict(x)
  const viaBase = base.embed(x)
  expect(got.shape).toEqual([3, 1280])
  expect(maxDiff(want, got)).toBeLessThanOrEqual(1e-4)
  expect(maxDiff(want, viaBase)).toBeLessThanOrEqual(1e-4)
  expect(tf.tidy(() => tf.max(want).dataSync()[0]!)).toBeGreaterThan(0.1) // not trivially zero features
  tf.dispose([x, want, got, viaBase])
  compiled.trunk.dispose()
  base.dispose()
  expect(tf.memory().numTensors).toBe(baseline)
})

/** Random BatchNorm statistics, so that a wrong fold shows. */
function randomizeBatchNorms(model: tf.LayersModel): void {
  let seed = 1
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue
    const shapes = layer.getWeights().map((w) => w.shape)
    const values = shapes.map((shape, i) => (i === shapes.length - 1 ? tf.randomUniform(shape, 0.5, 2, 'float32', seed++) : tf.randomNormal(shape, 0, 0.5, 'float32', seed++)))
    layer.setWeights(values)
    tf.dispose(values)
  }
}

/** A tiny MobileNet-like graph touching every supported layer and both fold and no-fold paths. */
function tinyModel(extra?: (x: tf.SymbolicTensor) => tf.SymbolicTensor): tf.LayersModel {
  const input = tf.input({ shape: [17, 17, 3] })
  let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(input) as tf.SymbolicTensor
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: true }).apply(x) as tf.SymbolicTensor
  x = tf.layers.batchNormalization({ epsilon: 1e-3 }).apply(x) as tf.SymbolicTensor
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor
  const branch = x
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]] }).apply(x) as tf.SymbolicTensor
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', useBias: false }).apply(x) as tf.SymbolicTensor
  x = tf.layers.batchNormalization({ scale: false }).apply(x) as tf.SymbolicTensor
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.conv2d({ filters: 8, kernelSize: 1, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor
  x = tf.layers.batchNormalization({ center: false }).apply(x) as tf.SymbolicTensor
  x = tf.layers.add().apply([x, branch]) as tf.SymbolicTensor
  // Not foldable: the convolution's own ReLU comes before the BatchNorm.
  x = tf.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor
  x = tf.layers.dropout({ rate: 0.5 }).apply(x) as tf.SymbolicTensor
  x = extra ? extra(x) : x
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor
  const model = tf.model({ inputs: input, outputs: x })
  randomizeBatchNorms(model)
  return model
}

test('a tiny model: padding, folds, a residual add, pooling and a non-foldable BatchNorm match the LayersModel', () => {
  const baseline = tf.memory().numTensors
  const model = tinyModel()
  const compiled = compileFastTrunk(model)
  if (!('trunk' in compiled)) throw new Error(`not compiled: ${compiled.unsupported}`)
  const x = tf.randomUniform([4, 17, 17, 3], -1, 1, 'float32', 3) as tf.Tensor4D
  const want = model.predict(x) as tf.Tensor
  const got = compiled.trunk.predict(x)
  expect(got.shape).toEqual([4, 12])
  expect(maxDiff(want, got)).toBeLessThanOrEqual(1e-4)
  tf.dispose([x, want, got])
  compiled.trunk.dispose()
  model.dispose()
  expect(tf.memory().numTensors).toBe(baseline)
})

test('a layer it does not know: reported by name, nothing compiled, nothing leaked', () => {
  const model = tinyModel((x) => tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'sigmoid', name: 'odd_sigmoid' }).apply(x) as tf.SymbolicTensor)
  const baseline = tf.memory().numTensors
  const compiled = compileFastTrunk(model)
  expect(compiled).toEqual({ unsupported: "layer 'odd_sigmoid' has activation 'sigmoid'" })
  expect(tf.memory().numTensors).toBe(baseline)
  model.dispose()
})
