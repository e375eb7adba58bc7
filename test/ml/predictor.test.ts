/**
 * The predictor on its worker_threads pool: batching gives the same scores as single runs, concurrent first
 * requests still work, eviction reaches every thread, and no tensor is left behind across 200 predictions.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { initBackend } from '../../src/ml/backend.js'
import { createMicroBatcher } from '../../src/ml/micro-batcher.js'
import { createPredictor, type Predictor } from '../../src/ml/predictor.js'
import { createModelStore } from '../../src/storage/models.js'
import { bandsImage, saveTinyModel } from '../helpers/tiny-model.js'

const LABELS = ['a', 'b', 'c']
const MAX_PIXELS = 1_000_000

let dir: string
let images: Buffer[]
const predictors: Predictor[] = []

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-predictor-'))
  await saveTinyModel(dir, 'tiny', LABELS)
  images = await Promise.all(Array.from({ length: 8 }, (_, i) => bandsImage(i + 1)))
})
afterAll(async () => {
  await Promise.all(predictors.map((p) => p.close()))
  await rm(dir, { recursive: true, force: true })
})

function pooled(maxBatch: number, threads = 2): Predictor {
  const models = createModelStore(path.join(dir, 'models'))
  const predictor = createPredictor({ models, maxPixels: MAX_PIXELS, maxBatch, maxDelayMs: 20, threads: { count: threads, backend: 'wasm' } })
  predictors.push(predictor)
  return predictor
}

test('the micro-batcher groups concurrent items per key, flushes full batches at once, and fails only the failed batch', async () => {
  const runs: string[][] = []
  const batcher = createMicroBatcher<string, string>({
    maxBatch: 3,
    maxDelayMs: 10,
    run: async (key, items) => {
      runs.push([key, ...items])
      if (key === 'bad') throw new Error('boom')
      return items.map((item) => item.toUpperCase())
    },
  })
  const good = Promise.all(['a', 'b', 'c', 'd'].map((item) => batcher.submit('k', item)))
  const bad = batcher.submit('bad', 'x')
  await expect(good).resolves.toEqual(['A', 'B', 'C', 'D'])
  await expect(bad).rejects.toThrow('boom')
  expect(runs).toEqual([
    ['k', 'a', 'b', 'c'],
    ['k', 'd'],
    ['bad', 'x'],
  ])
})

test('with no delay an item runs at once while a slot is free, and items batch only while every slot is busy', async () => {
  const runs: string[][] = []
  let release!: () => void
  const first = new Promise<void>((resolve) => (release = resolve))
  const batcher = createMicroBatcher<string, string>({
    maxBatch: 8,
    maxDelayMs: 0,
    capacity: 1,
    run: async (_key, items) => {
      runs.push(items)
      if (runs.length === 1) await first
      return items
    },
  })
  const a = batcher.submit('k', 'a')
  expect(runs).toEqual([['a']]) // no waiting for company
  const rest = Promise.all(['b', 'c', 'd'].map((item) => batcher.submit('k', item)))
  expect(runs).toHaveLength(1) // the only slot is busy: b, c, d queue up
  release()
  await expect(Promise.all([a, rest])).resolves.toEqual(['a', ['b', 'c', 'd']])
  expect(runs).toEqual([['a'], ['b', 'c', 'd']])
})

test('threads and batching reproduce single in-process scores', async () => {
  const single = createPredictor({ models: createModelStore(path.join(dir, 'models')), maxPixels: MAX_PIXELS, maxBatch: 1 })
  predictors.push(single)
  const expected = await Promise.all(images.map((image) => single.predict('tiny', [image], 3)))
  const batched = pooled(4)
  // All at once: the first requests race for the model on both threads, and their images share batches.
  const got = await Promise.all(images.map((image) => batched.predict('tiny', [image], 3)))
  got.forEach((result, i) => {
    expect(result[0]!.map((p) => p.label)).toEqual(expected[i]![0]!.map((p) => p.label))
    result[0]!.forEach((p, j) => expect(p.score).toBeCloseTo(expected[i]![0]![j]!.score, 5))
  })
  expect(await batched.tensorCounts()).toHaveLength(2)
  await expect(batched.predict('missing', [images[0]!], 1)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
  await expect(batched.predict('tiny', [Buffer.from('nope')], 1)).rejects.toMatchObject({ code: 'IMAGE_INVALID' })
})

test('no tensor growth across 200 predictions; eviction frees the model on every thread', async () => {
  const predictor = pooled(8)
  // Batches go to the first idle thread, so one that starts late may sit out the first ones: warm until both
  // threads have run a batch and hold the model. From then on the count may not move.
  let loaded: number[] = []
  for (let round = 0; round < 20 && !(loaded.length === 2 && loaded.every((n) => n > 0)); round++) {
    await Promise.all([predictor.predict('tiny', images, 1), predictor.predict('tiny', images, 1)])
    loaded = await predictor.tensorCounts()
  }
  expect(loaded).toHaveLength(2)
  expect(loaded.every((n) => n > 0)).toBe(true)
  for (let round = 0; round < 25; round++) {
    await Promise.all(images.map((image, i) => predictor.predict('tiny', [image], 1 + (i % 3))))
  }
  expect(await predictor.tensorCounts()).toEqual(loaded)
  await predictor.evict('tiny')
  const after = await predictor.tensorCounts()
  after.forEach((n, i) => expect(n).toBeLessThan(loaded[i]!))
})
