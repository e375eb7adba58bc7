/** Feature extraction on worker threads (each with its own wasm backend) must match the job thread's. */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase, type Base } from '../../src/ml/bases.js'
import { dataInsights } from '../../src/ml/data-insights.js'
import { createFeaturePool, type FeaturePool } from '../../src/ml/feature-pool.js'
import { embedHere, extractFeatures } from '../../src/ml/features.js'
import { decodeImage } from '../../src/ml/image.js'
import { seededRandom } from '../../src/ml/random.js'
import { THUMBNAIL_LENGTH } from '../../src/ml/thumbnails.js'
import { createFeatureCache } from '../../src/storage/features.js'

const MAX_PIXELS = 4_000_000
let dir: string
let base: Base
let pool: FeaturePool

/** Distinct synthetic images: a coloured disc on a tinted background. */
async function images(n: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48" fill="rgb(${200 - i * 9},${40 + i * 11},120)"/><circle cx="${20 + i * 3}" cy="24" r="${8 + i}" fill="rgb(${i * 20},90,${250 - i * 15})"/></svg>`))
        .png()
        .toBuffer(),
    ),
  )
}

beforeAll(async () => {
  await initBackend('wasm')
  dir = await mkdtemp(path.join(tmpdir(), 'imagetune-pool-'))
  base = await loadBase('mobilenet_v2', path.join(dir, 'bases'))
  pool = await createFeaturePool({ base: 'mobilenet_v2', basesDir: path.join(dir, 'bases'), threads: 2, subBatch: 2 })
})

afterAll(async () => {
  await pool?.close()
  base?.dispose()
  await rm(dir, { recursive: true, force: true })
})

test('two threads embed a batch in sub-batches, in image order, as the job thread does', async () => {
  expect(pool.threads).toBe(2)
  const pixels = await Promise.all((await images(5)).map((b) => decodeImage(b, 224, { maxPixels: MAX_PIXELS })))
  const baseline = tf.memory().numTensors
  const here = await embedHere(base, pixels)
  const threaded = await pool.embed(pixels)
  expect(threaded.length).toBe(5 * 1280)
  let diff = 0
  for (let i = 0; i < here.length; i++) diff = Math.max(diff, Math.abs(here[i]! - threaded[i]!))
  expect(diff).toBeLessThanOrEqual(1e-4)
  // Image order kept (and the comparison is not trivial): different images give clearly different vectors.
  let apart = 0
  for (let j = 0; j < 1280; j++) apart += Math.abs(threaded[j]! - threaded[4 * 1280 + j]!)
  expect(apart).toBeGreaterThan(1)
  expect(tf.memory().numTensors).toBe(baseline)
})

test('extractFeatures through the pool fills the cache; a second run reads it and embeds nothing', async () => {
  const bytes = await images(6)
  const items = bytes.map((b) => ({ key: createHash('sha256').update(b).digest('hex'), read: async () => b }))
  const cache = createFeatureCache(path.join(dir, 'cache'))
  let embedded = 0
  const embed = (pixels: Uint8Array[]) => {
    embedded += pixels.length
    return pool.embed(pixels)
  }
  const first = await extractFeatures(base, items, { cache, maxPixels: MAX_PIXELS, batchSize: 4, embed })
  expect(embedded).toBe(6)
  const again = await extractFeatures(base, items, { cache, maxPixels: MAX_PIXELS, batchSize: 4, embed })
  expect(embedded).toBe(6)
  expect(again).toEqual(first)
  expect(first.map((v) => v.length)).toEqual(Array(6).fill(1280))
})

test('data insights on a thread give exactly the job thread\'s answer', async () => {
  // Three noisy classes, two labels flipped, one near-duplicate pair: every part has something to report.
  const random = seededRandom(5)
  const centres = [0, 1, 2].map(() => Float32Array.from({ length: 32 }, () => random() * 6))
  const labels = Array.from({ length: 45 }, (_, i) => i % 3)
  const features = labels.map((y) => Float32Array.from(centres[y]!, (c) => c + random()))
  features[7] = Float32Array.from(features[4]!, (v) => v + 1e-3)
  const thumbnails = labels.map(() => Float32Array.from({ length: THUMBNAIL_LENGTH }, () => random() - 0.5))
  thumbnails[7] = thumbnails[4]!.slice()
  const input = {
    features,
    thumbnails,
    labels: labels.map((y, i) => (i === 10 || i === 20 ? (y + 1) % 3 : y)),
    classNames: ['a', 'b', 'c'],
    paths: labels.map((_, i) => `images/x/${i}.png`),
    validation: new Set([0, 1, 2, 3, 4, 5]),
    seed: 3,
  }
  const baseline = tf.memory().numTensors
  const here = dataInsights(input)
  const threaded = await pool.insights(input)
  expect(here.labelIssues!.length).toBeGreaterThan(0)
  expect(here.nearDuplicates!.length).toBeGreaterThan(0)
  expect({ ...threaded, timings: undefined }).toEqual({ ...here, timings: undefined })
  expect(features[0]!.length).toBe(32) // the caller's vectors stay usable: the thread got a copy
  expect(tf.memory().numTensors).toBe(baseline)
})

test('an error in a thread rejects that call only; the pool keeps serving', async () => {
  await expect(pool.embed([new Uint8Array(10)])).rejects.toThrow(/image 0 has 10 bytes/)
  const pixels = await decodeImage((await images(1))[0]!, 224, { maxPixels: MAX_PIXELS })
  expect((await pool.embed([pixels])).length).toBe(1280)
})

test('a base the threads cannot load fails the pool start with its code', async () => {
  await expect(createFeaturePool({ base: { url: path.join(dir, 'missing', 'model.json') }, basesDir: path.join(dir, 'bases'), threads: 2 })).rejects.toMatchObject({
    code: 'BASE_MODEL_INVALID',
  })
})
