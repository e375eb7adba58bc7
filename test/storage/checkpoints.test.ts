import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/ml/checkpoint-codec.js'
import type { HeadCheckpoint } from '../../src/ml/train.js'
import { createCheckpointStore } from '../../src/storage/checkpoints.js'
import { evaluate } from '../../src/ml/evaluate.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-ckpt-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const state: HeadCheckpoint = {
  epoch: 3,
  history: [{ epoch: 1, loss: 1, accuracy: 0.5, learningRate: 0.001, seconds: 0.1 }],
  weights: [Float32Array.of(1, 2, 3), Float32Array.of(-0.5)],
  optimizer: [Float32Array.of(12), Float32Array.of(0.1, 0.2, 0.3), Float32Array.of(0.4), Float32Array.of(1, 1, 1), Float32Array.of(2)],
  order: [2, 0, 1],
  random: 123456789,
  tracker: { best: { epoch: 2, value: 0.25 }, since: 1 },
  bestWeights: [Float32Array.of(9, 8, 7), Float32Array.of(6)],
}

test('a saved checkpoint reads back whole, only for its own model', async () => {
  const store = createCheckpointStore(dir)
  await store.save('job-1', encodeCheckpoint('model-a', state))
  expect(decodeCheckpoint(await store.load('job-1'), 'model-a')).toEqual(state)
  expect(decodeCheckpoint(await store.load('job-1'), 'model-b')).toBeUndefined()
  expect(await store.load('job-2')).toBeUndefined()
  const { bestWeights: _, ...withoutBest } = state
  await store.save('job-1', encodeCheckpoint('model-a', withoutBest))
  expect(decodeCheckpoint(await store.load('job-1'), 'model-a')).toEqual(withoutBest)
})

test('a damaged checkpoint is ignored, and remove clears the job folder', async () => {
  const store = createCheckpointStore(dir)
  await store.save('job-3', Buffer.from([8, 0, 0, 0, 123, 34, 120]))
  expect(decodeCheckpoint(await store.load('job-3'), 'model-a')).toBeUndefined()
  await store.saveResult('job-3', { modelId: 'model-a', metrics: evaluate([0], [[1, 0]], ['a', 'b'], []), trainCount: 1, valCount: 0, backend: 'wasm', featureCache: { hits: 0, misses: 1 } })
  expect(await store.loadResult('job-3')).toMatchObject({ modelId: 'model-a' })
  await store.remove('job-3')
  expect(await store.loadResult('job-3')).toBeUndefined()
  await store.remove('job-3') // idempotent
  expect(() => store.load('../etc')).toThrow()
})
