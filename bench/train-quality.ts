/**
 * bench/train-quality: test accuracy of head recipes on small real sets, over several seeds, on held-out images.
 * Sets (from /work/shared/datasets/make-bench-sets.sh, built when missing):
 *   twemoji: 4 twemoji-groups classes, 34 training images each (136, the size of the small photo set), the
 *            other 66 per class held out as the test set
 *   mnist:   10 digit classes, 80 training images each (800, grey 28 px), 20 per class held out
 * Every image and its left-right mirror are embedded once with the bundled MobileNetV2 (feature pool, as a job
 * does); each recipe then trains a head on the cached features exactly as a job's head phase does (stratified
 * 20 % validation split by seed, trainHead) and is scored on the test images, with and without flip test-time
 * augmentation (mean of the probabilities of the image and its mirror). Prints ONE JSON line: per set and recipe,
 * the mean, worst and best test accuracy over the seeds, and the head's mean seconds.
 *
 *   npx tsx bench/train-quality.ts [SETS_DIR]     (default /tmp/bench-sets)
 * Env: BENCH_SEEDS (default 3); BENCH_CACHE_DIR keeps the embeddings between runs (default: a temporary folder),
 * so trying another recipe costs only its heads.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { TRAIN_DEFAULTS } from '../src/contract/jobs.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase } from '../src/ml/bases.js'
import { createFeaturePool } from '../src/ml/feature-pool.js'
import { extractFeatures, type FeatureItem } from '../src/ml/features.js'
import { stratifiedSplit } from '../src/ml/split.js'
import { trainHead, type TrainHeadOptions } from '../src/ml/train.js'
import { createFeatureCache } from '../src/storage/features.js'

const SETS_DIR = process.argv[2] ?? '/tmp/bench-sets'
const MAKE_SETS = '/work/shared/datasets/make-bench-sets.sh'
const SEEDS = Array.from({ length: Number(process.env.BENCH_SEEDS ?? 3) }, (_, i) => i + 1)
const SETS = [
  { name: 'twemoji', dir: 'twemoji-groups', classes: 4, train: 34, test: 66 },
  { name: 'mnist', dir: 'mnist', classes: 10, train: 80, test: 20 },
]

type Recipe = Omit<TrainHeadOptions, 'seed' | 'validation'> & { flipViews?: boolean }
/** Today's job default (no options) first; then the candidates. */
const RECIPES: Record<string, Recipe> = {
  default: { epochs: TRAIN_DEFAULTS.epochs, batchSize: TRAIN_DEFAULTS.batchSize, learningRate: TRAIN_DEFAULTS.learningRate, hiddenUnits: TRAIN_DEFAULTS.hiddenUnits, dropout: TRAIN_DEFAULTS.dropout },
  'softmax+l2=1e-3': { epochs: 20, batchSize: 32, learningRate: 1e-3, hiddenUnits: 0, l2: 1e-3 },
  'softmax+l2=1e-2': { epochs: 20, batchSize: 32, learningRate: 1e-3, hiddenUnits: 0, l2: 1e-2 },
  'softmax+l2=1e-3+flipViews': { epochs: 20, batchSize: 32, learningRate: 1e-3, hiddenUnits: 0, l2: 1e-3, flipViews: true },
  'softmax+l2=1e-4,lr=1e-2,60ep': { epochs: 60, batchSize: 32, learningRate: 1e-2, hiddenUnits: 0, l2: 1e-4 },
  'default+flipViews': { epochs: TRAIN_DEFAULTS.epochs, batchSize: TRAIN_DEFAULTS.batchSize, learningRate: TRAIN_DEFAULTS.learningRate, hiddenUnits: TRAIN_DEFAULTS.hiddenUnits, dropout: TRAIN_DEFAULTS.dropout, flipViews: true },
}

/** Mirrors `size × size × 3` RGB pixels left-right. */
async function mirror(pixels: Uint8Array, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(pixels.length)
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = pixels[(y * size + (size - 1 - x)) * 3 + c]!
  return out
}

async function loadSet(set: (typeof SETS)[number]) {
  const root = path.join(SETS_DIR, set.dir)
  const classes = (await readdir(root)).sort().slice(0, set.classes)
  const images: { bytes: Buffer; key: string; label: number; test: boolean }[] = []
  for (const [label, c] of classes.entries()) {
    const files = (await readdir(path.join(root, c))).sort().slice(0, set.train + set.test)
    for (const [i, f] of files.entries()) {
      const bytes = await readFile(path.join(root, c, f))
      images.push({ bytes, key: createHash('sha256').update(bytes).digest('hex'), label, test: i >= set.train })
    }
  }
  return { classes, images }
}

function predict(head: tf.LayersModel, features: Float32Array[]): Float32Array {
  return tf.tidy(() => (head.predict(tf.tensor2d(features.flatMap((f) => [...f]), [features.length, features[0]!.length])) as tf.Tensor).dataSync() as Float32Array)
}

function accuracy(probs: Float32Array, labels: number[], classes: number): number {
  let hits = 0
  labels.forEach((label, i) => {
    const row = probs.subarray(i * classes, (i + 1) * classes)
    if (row.indexOf(Math.max(...row)) === label) hits++
  })
  return hits / labels.length
}

if (!existsSync(path.join(SETS_DIR, 'mnist'))) execFileSync('bash', [MAKE_SETS, SETS_DIR], { stdio: 'inherit' })
const { name: backend } = await initBackend('wasm')
const work = await mkdtemp(path.join(os.tmpdir(), 'imagetune-bench-quality-'))
const basesDir = path.join(work, 'bases')
const base = await loadBase('mobilenet_v2', basesDir)
const pool = await createFeaturePool({ base: 'mobilenet_v2', basesDir })
const cache = createFeatureCache(process.env.BENCH_CACHE_DIR ?? path.join(work, 'cache'))
const report: Record<string, unknown> = {}
try {
  for (const set of SETS) {
    const { classes, images } = await loadSet(set)
    const t0 = performance.now()
    const items: FeatureItem[] = images.flatMap((im) => [
      { key: im.key, read: async () => im.bytes },
      { key: `${im.key}-mirror`, read: async () => im.bytes, transform: mirror },
    ])
    const embedded = await extractFeatures(base, items, { cache, maxPixels: 50_000_000, embed: pool.embed })
    const extractSeconds = (performance.now() - t0) / 1000
    const plain = images.map((_, i) => embedded[2 * i]!)
    const mirrored = images.map((_, i) => embedded[2 * i + 1]!)
    const trainIdx = images.flatMap((im, i) => (im.test ? [] : [i]))
    const testIdx = images.flatMap((im, i) => (im.test ? [i] : []))
    const testLabels = testIdx.map((i) => images[i]!.label)
    const results: Record<string, unknown> = {}
    for (const [name, recipe] of Object.entries(RECIPES)) {
      const plainAcc: number[] = []
      const ttaAcc: number[] = []
      let seconds = 0
      for (const seed of SEEDS) {
        // As a job: a stratified validation split of the training images by seed, the head trained on the rest.
        const { train, val } = stratifiedSplit(trainIdx.map((i) => images[i]!.label), TRAIN_DEFAULTS.validationSplit, seed)
        const rows = train.map((t) => trainIdx[t]!)
        const features = [...rows.map((i) => plain[i]!), ...(recipe.flipViews ? rows.map((i) => mirrored[i]!) : [])]
        const labels = [...rows, ...(recipe.flipViews ? rows : [])].map((i) => images[i]!.label)
        const valRows = val.map((v) => trainIdx[v]!)
        const t = performance.now()
        const { head } = await trainHead(features, labels, classes.length, {
          ...recipe,
          seed,
          validation: { features: valRows.map((i) => plain[i]!), labels: valRows.map((i) => images[i]!.label) },
        })
        seconds += (performance.now() - t) / 1000
        const p = predict(head, testIdx.map((i) => plain[i]!))
        const m = predict(head, testIdx.map((i) => mirrored[i]!))
        head.dispose()
        plainAcc.push(accuracy(p, testLabels, classes.length))
        ttaAcc.push(accuracy(p.map((v, k) => (v + m[k]!) / 2), testLabels, classes.length))
      }
      const stats = (xs: number[]) => ({ mean: round(xs.reduce((a, b) => a + b, 0) / xs.length), worst: round(Math.min(...xs)), best: round(Math.max(...xs)) })
      results[name] = { test: stats(plainAcc), testFlipTta: stats(ttaAcc), headSeconds: round(seconds / SEEDS.length) }
      process.stderr.write(`${set.name} ${name} ${JSON.stringify(results[name])}\n`)
    }
    report[set.name] = { train: trainIdx.length, test: testIdx.length, classes: classes.length, extractSeconds: round(extractSeconds), embeddings: items.length, recipes: results }
  }
} finally {
  await pool.close()
  base.dispose()
  await rm(work, { recursive: true, force: true })
}
console.log(JSON.stringify({ bench: 'train-quality', backend, seeds: SEEDS, sets: report, cores: os.availableParallelism(), loadAverage: os.loadavg().map(round) }))

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
