/** The gradient kernels the project lends the wasm backend agree with the cpu backend's gradients. */
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../../src/ml/backend.js'
import { seededRandom } from '../../src/ml/random.js'

const TOLERANCE = 1e-4

function values(shape: number[], seed: number): Float32Array {
  const random = seededRandom(seed)
  return new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => random() * 2 - 1)
}

/** Gradients of sum(f(x, w) * probe) with respect to x and w, as plain arrays, on the active backend. */
function grads(f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D, xShape: number[], wShape: number[]): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(values(xShape, 1), xShape as [number, number, number, number])
    const w = tf.tensor4d(values(wShape, 2), wShape as [number, number, number, number])
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const y = f(a as tf.Tensor4D, b as tf.Tensor4D)
      return tf.sum(tf.mul(y, tf.tensor(values(y.shape, 3), y.shape)))
    })
    return g([x, w]).map((t) => t.dataSync() as Float32Array)
  })
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

const CASES: [string, (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D, number[], number[]][] = [
  ['conv2d 3x3 stride 2 same', (x, w) => tf.conv2d(x, w, 2, 'same'), [2, 9, 9, 3], [3, 3, 3, 4]],
  ['conv2d 1x1 valid (the XNNPACK path)', (x, w) => tf.conv2d(x, w, 1, 'valid'), [3, 5, 5, 6], [1, 1, 6, 5]],
  ['conv2d 1x1 same (the XNNPACK path)', (x, w) => tf.conv2d(x, w, 1, 'same'), [2, 4, 4, 16], [1, 1, 16, 24]],
  ['conv2d 1x1 stride 2 (the JS path)', (x, w) => tf.conv2d(x, w, 2, 'same'), [2, 5, 5, 3], [1, 1, 3, 4]],
  ['depthwise 3x3 stride 1 same', (x, w) => tf.depthwiseConv2d(x, w, 1, 'same'), [2, 7, 7, 4], [3, 3, 4, 1]],
  ['depthwise 3x3 stride 2 valid, multiplier 2', (x, w) => tf.depthwiseConv2d(x, w, 2, 'valid'), [2, 8, 8, 3], [3, 3, 3, 2]],
  ['fused conv2d with bias and relu6', (x, w) => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', activation: 'relu6' }), [2, 6, 6, 3], [3, 3, 3, 4]],
]

afterAll(async () => {
  await tf.setBackend('wasm')
})

test.each(CASES)('%s: wasm gradients match cpu within 1e-4', async (_name, f, xShape, wShape) => {
  await initBackend('wasm')
  await tf.setBackend('cpu')
  const expected = grads(f, xShape, wShape)
  await tf.setBackend('wasm')
  const before = tf.memory().numTensors
  const actual = grads(f, xShape, wShape)
  expect(tf.memory().numTensors).toBe(before)
  expected.forEach((e, i) => {
    expect(e.some((v) => v !== 0)).toBe(true)
    expect(maxDiff(actual[i]!, e)).toBeLessThan(TOLERANCE)
  })
})

describe('matrix products with a transposed operand', () => {
  const PRODUCTS: [string, number[], number[], boolean, boolean][] = [
    ["the hidden layer's weight gradient, aᵀ·b", [32, 480], [32, 128], true, false],
    ["the output layer's input gradient, a·bᵀ", [32, 10], [128, 10], false, true],
    ['both transposed', [7, 5], [3, 7], true, true],
    ['batched, rank 3', [2, 6, 4], [2, 6, 3], true, false],
  ]

  test.each(PRODUCTS)('%s: wasm equals cpu and leaks nothing', async (_name, aShape, bShape, ta, tb) => {
    const product = () => tf.tidy(() => tf.matMul(tf.tensor(values(aShape, 4), aShape), tf.tensor(values(bShape, 5), bShape), ta, tb).dataSync() as Float32Array)
    await initBackend('wasm')
    await tf.setBackend('cpu')
    const expected = product()
    await tf.setBackend('wasm')
    const before = tf.memory().numTensors
    expect(maxDiff(product(), expected)).toBeLessThan(TOLERANCE)
    expect(tf.memory().numTensors).toBe(before)
  })

  test('the weight gradient aᵀ·b costs at most twice the plain product of the same size (wasm alone: ~9×)', async () => {
    await initBackend('wasm')
    const a = tf.tensor2d(values([32, 480], 6), [32, 480])
    const b = tf.tensor2d(values([32, 128], 7), [32, 128])
    const plain = tf.tensor2d(values([480, 32], 8), [480, 32])
    const time = (f: () => tf.Tensor) => {
      for (let i = 0; i < 10; i++) f().dispose()
      const t = performance.now()
      for (let i = 0; i < 100; i++) f().dispose()
      return performance.now() - t
    }
    // Interleaved best-of-3, so a busy machine slows both sides alike.
    const ratios = [0, 1, 2].map(() => time(() => tf.matMul(a, b, true, false)) / time(() => tf.matMul(plain, b)))
    expect(Math.min(...ratios)).toBeLessThan(2)
    tf.dispose([a, b, plain])
  })
})
