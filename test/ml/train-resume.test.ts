/** A head resumed from a mid-run checkpoint ends where the uninterrupted run ends, and nothing leaks. */
import * as tf from '@tensorflow/tfjs'
import { initBackend } from '../../src/ml/backend.js'
import { seededRandom } from '../../src/ml/random.js'
import { trainHead, type HeadCheckpoint, type TrainHeadOptions } from '../../src/ml/train.js'

const CLASSES = 3
const D = 8

function dataset(n: number, seed: number) {
  const random = seededRandom(seed)
  const labels = Array.from({ length: n }, (_, i) => i % CLASSES)
  const features = labels.map((l) => Float32Array.from({ length: D }, (_, j) => (j % CLASSES === l ? 1 : 0) + (random() - 0.5)))
  return { features, labels }
}

async function weightsOf(head: tf.LayersModel): Promise<number[]> {
  const all = await Promise.all(head.getWeights().map((w) => w.data()))
  return all.flatMap((a) => [...a])
}

beforeAll(async () => {
  await initBackend('wasm')
})

test('resuming from the checkpoint after epoch 3 of 7 gives the uninterrupted head', async () => {
  const train = dataset(30, 1)
  const validation = dataset(9, 2)
  const opts: TrainHeadOptions = { epochs: 7, batchSize: 4, learningRate: 0.01, hiddenUnits: 16, dropout: 0.3, seed: 11, validation, earlyStopping: { patience: 50 } }
  const before = tf.memory().numTensors

  const checkpoints: HeadCheckpoint[] = []
  const whole = await trainHead(train.features, train.labels, CLASSES, { ...opts, onCheckpoint: (c) => void checkpoints.push(c) })
  expect(checkpoints.map((c) => c.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7])
  const atThree = checkpoints[2]!
  expect(atThree.history).toHaveLength(3)
  expect(atThree.optimizer).toHaveLength(1 + 2 * 4) // iterations, then m and v for two kernels and two biases

  const resumedEpochs: number[] = []
  const resumed = await trainHead(train.features, train.labels, CLASSES, { ...opts, resumeFrom: atThree, onEpoch: (log) => void resumedEpochs.push(log.epoch) })
  expect(resumedEpochs).toEqual([4, 5, 6, 7])
  expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7])
  expect(resumed.history[6]!.loss).toBeCloseTo(whole.history[6]!.loss, 4)

  const a = await weightsOf(whole.head)
  const b = await weightsOf(resumed.head)
  expect(b).toHaveLength(a.length)
  const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))
  expect(maxDiff).toBeLessThan(1e-4)

  // From scratch without the checkpoint, the head would differ: the check above can fail.
  const fresh = await trainHead(train.features, train.labels, CLASSES, { ...opts, epochs: 4 })
  const c = await weightsOf(fresh.head)
  expect(Math.max(...a.map((v, i) => Math.abs(v - c[i]!)))).toBeGreaterThan(1e-3)

  whole.head.dispose()
  resumed.head.dispose()
  fresh.head.dispose()
  expect(tf.memory().numTensors).toBe(before)
})

test('a checkpoint from another head shape is refused', async () => {
  const train = dataset(12, 3)
  let saved: HeadCheckpoint | undefined
  const first = await trainHead(train.features, train.labels, CLASSES, { epochs: 1, batchSize: 4, learningRate: 0.01, hiddenUnits: 8, seed: 1, onCheckpoint: (c) => void (saved = c) })
  first.head.dispose()
  const before = tf.memory().numTensors
  await expect(trainHead(train.features, train.labels, CLASSES, { epochs: 2, batchSize: 4, learningRate: 0.01, hiddenUnits: 16, seed: 1, resumeFrom: saved! })).rejects.toThrow(RangeError)
  expect(tf.memory().numTensors).toBe(before)
})
