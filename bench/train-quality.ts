/**
 * bench/train-quality: test accuracy of head recipes on small real sets, over several seeds, on held-out images.
 * Sets (from /work/shared/datasets/make-bench-sets.sh and bench/make-fashion-mnist.sh, built when missing):
 *   twemoji: 4 twemoji-groups classes, 34 training images each (136, the size of the issue's small photo set), the
 *            other 66 per class held out as the test set
 *   fashion: 10 Fashion-MNIST classes (grey 28 px product photos), 30 training images each (300), 70 held out
 *   mnist:   10 digit classes, 80 training images each (800, grey 28 px), 20 per class held out
 * Every image and its left-right mirror are embedded once with the default base (feature pool, as a job does), and
 * on sets of at most SMALL_SET training images also `TRAIN_DEFAULTS.augmentViews` augmented views of each
 * training image (crop, rotate, brightness, contrast: no mirror, which digits do not survive). Each recipe then
 * trains a head on the cached features as a job's head phase does (`trainHead`), in one of three fits:
 *   split: a stratified 20 % validation split of the training images by seed, the head trained on the rest (a job
 *          today);
 *   all:   the head trained on every training image for the recipe's epochs;
 *   kfold: the epoch count chosen by 5-fold cross-validation on the training images (lowest mean validation loss
 *          over the folds, up to KFOLD_MAX_EPOCHS), then the head trained on every training image for that many.
 * Each head is scored on the test images, with and without flip test-time augmentation (mean of the probabilities
 * of the image and its mirror). Prints ONE JSON line: per set and recipe, mean, sd, worst and best test accuracy
 * over the seeds, per seed, and the head's mean seconds (k-fold included). Recipe names: `today` is the job default
 * (TRAIN_DEFAULTS), `former` the default before issue 14's recipe work (20 epochs, split), `former,all,40ep` etc. vary it.
 *
 *   npx tsx bench/train-quality.ts [SETS_DIR]     (default /tmp/bench-sets)
 * Env: BENCH_SEEDS (default 3); BENCH_SETS (comma list, default all); BENCH_RECIPES (names separated by ';', default all);
 * BENCH_BASE (default DEFAULT_BASE_MODEL); BENCH_CACHE_DIR keeps the embeddings between runs (default: a temporary
 * folder), so trying another recipe costs only its heads.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { DEFAULT_BASE_MODEL, TRAIN_DEFAULTS } from '../src/contract/jobs.js'
import { augmentView, viewKeySuffix, type AugmentSpec } from '../src/ml/augment.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase, type BaseModelRef } from '../src/ml/bases.js'
import { createFeaturePool } from '../src/ml/feature-pool.js'
import { extractFeatures, type FeatureItem } from '../src/ml/features.js'
import { assignFolds } from '../src/ml/kfold-probe.js'
import { stratifiedSplit } from '../src/ml/split.js'
import { trainHead, type TrainHeadOptions } from '../src/ml/train.js'
import { createFeatureCache } from '../src/storage/features.js'

const SETS_DIR = process.argv[2] ?? '/tmp/bench-sets'
const MAKE_SETS = '/work/shared/datasets/make-bench-sets.sh'
const MAKE_FASHION = path.join(import.meta.dirname, 'make-fashion-mnist.sh')
const SEEDS = Array.from({ length: Number(process.env.BENCH_SEEDS ?? 3) }, (_, i) => i + 1)
const BASE = (process.env.BENCH_BASE ?? DEFAULT_BASE_MODEL) as BaseModelRef
const ALL_SETS = [
  { name: 'twemoji', dir: 'twemoji-groups', classes: 4, train: 34, test: 66 },
  { name: 'fashion', dir: 'fashion-mnist', classes: 10, train: 30, test: 70 },
  { name: 'mnist', dir: 'mnist', classes: 10, train: 80, test: 20 },
]
const SETS = process.env.BENCH_SETS ? ALL_SETS.filter((s) => process.env.BENCH_SETS!.split(',').includes(s.name)) : ALL_SETS
/** Sets with at most this many training images also get cached augmented views. */
const SMALL_SET = 400
const AUGMENT: AugmentSpec = { flip: false, crop: true, rotate: true, brightness: true, contrast: true, views: TRAIN_DEFAULTS.augmentViews }
const KFOLDS = 5
const KFOLD_MAX_EPOCHS = 40

type Head = Omit<TrainHeadOptions, 'seed' | 'validation'>
interface Recipe {
  head: Head
  fit: 'split' | 'all' | 'kfold'
  /** Extra training views: the mirror of each training image, or the cached augmented views. */
  views?: 'mirror' | 'augment'
  /** How many of the cached augmented views to use. @defaultValue all */
  augmentViews?: number
}
/** The head of the job default before issue 14's recipe work (20 epochs, no refit); the candidates vary it. */
const mlp: Head = { epochs: 20, batchSize: TRAIN_DEFAULTS.batchSize, learningRate: TRAIN_DEFAULTS.learningRate, hiddenUnits: TRAIN_DEFAULTS.hiddenUnits, dropout: TRAIN_DEFAULTS.dropout }
const softmax: Head = { epochs: 20, batchSize: 32, learningRate: 1e-3, hiddenUnits: 0, l2: 1e-3 }
/** `today`: the job default (no options, TRAIN_DEFAULTS); `former`: the default before issue 14's recipe work; then the candidates. */
const ALL_RECIPES: Record<string, Recipe> = {
  today: { head: { ...mlp, epochs: TRAIN_DEFAULTS.epochs }, fit: TRAIN_DEFAULTS.refit ? 'all' : 'split' },
  former: { head: mlp, fit: 'split' },
  'former,all': { head: mlp, fit: 'all' },
  'former,kfold': { head: mlp, fit: 'kfold' },
  'former+mirror': { head: mlp, fit: 'split', views: 'mirror' },
  'former+augment': { head: mlp, fit: 'split', views: 'augment' },
  'former+augment,all': { head: mlp, fit: 'all', views: 'augment' },
  'former+augment,kfold': { head: mlp, fit: 'kfold', views: 'augment' },
  'former+augment1,all': { head: mlp, fit: 'all', views: 'augment', augmentViews: 1 },
  'former+augment2,all': { head: mlp, fit: 'all', views: 'augment', augmentViews: 2 },
  'former+mirror,all': { head: mlp, fit: 'all', views: 'mirror' },
  'former,all,40ep': { head: { ...mlp, epochs: 40 }, fit: 'all' },
  'former,40ep': { head: { ...mlp, epochs: 40 }, fit: 'split' },
  'softmax+l2=1e-3': { head: softmax, fit: 'split' },
  'softmax+l2=1e-3,all,40ep': { head: { ...softmax, epochs: 40 }, fit: 'all' },
  'softmax+l2=1e-3,kfold': { head: softmax, fit: 'kfold' },
}
const RECIPES = Object.fromEntries(Object.entries(ALL_RECIPES).filter(([name]) => !process.env.BENCH_RECIPES || process.env.BENCH_RECIPES.split(';').includes(name)))

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
if (!existsSync(path.join(SETS_DIR, 'fashion-mnist'))) execFileSync('bash', [MAKE_FASHION, SETS_DIR], { stdio: 'inherit' })
const { name: backend } = await initBackend('wasm')
const work = await mkdtemp(path.join(os.tmpdir(), 'imagetune-bench-quality-'))
const basesDir = path.join(work, 'bases')
const base = await loadBase(BASE, basesDir)
const pool = await createFeaturePool({ base: BASE, basesDir })
const cache = createFeatureCache(process.env.BENCH_CACHE_DIR ?? path.join(work, 'cache'))
const report: Record<string, unknown> = {}
try {
  for (const set of SETS) {
    const { classes, images } = await loadSet(set)
    const trainIdx = images.flatMap((im, i) => (im.test ? [] : [i]))
    const testIdx = images.flatMap((im, i) => (im.test ? [i] : []))
    const augmented = trainIdx.length <= SMALL_SET ? AUGMENT.views : 0
    const t0 = performance.now()
    const items: FeatureItem[] = images.flatMap((im) => [
      { key: im.key, read: async () => im.bytes },
      { key: `${im.key}-mirror`, read: async () => im.bytes, transform: mirror },
    ])
    for (let k = 1; k <= augmented; k++) {
      for (const i of trainIdx) {
        const im = images[i]!
        items.push({ key: `${im.key}-${viewKeySuffix(AUGMENT, k)}`, read: async () => im.bytes, transform: (pixels, size) => augmentView(pixels, size, AUGMENT, im.key, k) })
      }
    }
    const embedded = await extractFeatures(base, items, { cache, maxPixels: 50_000_000, embed: pool.embed })
    const extractSeconds = (performance.now() - t0) / 1000
    const plain = images.map((_, i) => embedded[2 * i]!)
    const mirrored = images.map((_, i) => embedded[2 * i + 1]!)
    /** Augmented views of image i (a training image), by view. */
    const augOf = new Map<number, Float32Array[]>()
    for (let k = 0; k < augmented; k++) trainIdx.forEach((i, r) => augOf.set(i, [...(augOf.get(i) ?? []), embedded[2 * images.length + k * trainIdx.length + r]!]))
    const labelOf = (i: number) => images[i]!.label
    const testLabels = testIdx.map(labelOf)

    /** Training rows (image indices) with their extra views, as features and labels. */
    const examples = (rows: number[], recipe: Recipe) => {
      const { views } = recipe
      const extra = (i: number) => (views === 'mirror' ? [mirrored[i]!] : views === 'augment' ? (augOf.get(i) ?? []).slice(0, recipe.augmentViews) : [])
      return {
        features: rows.flatMap((i) => [plain[i]!, ...extra(i)]),
        labels: rows.flatMap((i) => [labelOf(i), ...extra(i).map(() => labelOf(i))]),
      }
    }
    /** The epoch count with the lowest mean validation loss over KFOLDS folds of `rows`. */
    const kfoldEpochs = async (recipe: Recipe, rows: number[], seed: number) => {
      const fold = assignFolds(rows.map(labelOf), KFOLDS, seed)
      const lossSum = new Array<number>(KFOLD_MAX_EPOCHS).fill(0)
      for (let f = 0; f < KFOLDS; f++) {
        const held = rows.filter((_, r) => fold[r] === f)
        const { features, labels } = examples(rows.filter((_, r) => fold[r] !== f), recipe)
        const { head, history } = await trainHead(features, labels, classes.length, {
          ...recipe.head,
          epochs: KFOLD_MAX_EPOCHS,
          seed: seed + f,
          validation: { features: held.map((i) => plain[i]!), labels: held.map(labelOf) },
        })
        head.dispose()
        history.forEach((log, e) => (lossSum[e]! += log.valLoss!))
      }
      return lossSum.indexOf(Math.min(...lossSum)) + 1
    }

    const results: Record<string, unknown> = {}
    for (const [name, recipe] of Object.entries(RECIPES)) {
      if (recipe.views === 'augment' && augmented === 0) continue
      const plainAcc: number[] = []
      const ttaAcc: number[] = []
      const epochs: number[] = []
      let seconds = 0
      for (const seed of SEEDS) {
        const t = performance.now()
        let fitRows = trainIdx
        let validation: TrainHeadOptions['validation']
        let epochCount = recipe.head.epochs
        if (recipe.fit === 'split') {
          // As a job: a stratified validation split of the training images by seed, the head trained on the rest.
          const { train, val } = stratifiedSplit(trainIdx.map(labelOf), TRAIN_DEFAULTS.validationSplit, seed)
          fitRows = train.map((r) => trainIdx[r]!)
          const valRows = val.map((v) => trainIdx[v]!)
          validation = { features: valRows.map((i) => plain[i]!), labels: valRows.map(labelOf) }
        } else if (recipe.fit === 'kfold') {
          epochCount = await kfoldEpochs(recipe, trainIdx, seed)
        }
        const { features, labels } = examples(fitRows, recipe)
        const { head } = await trainHead(features, labels, classes.length, { ...recipe.head, epochs: epochCount, seed, validation })
        seconds += (performance.now() - t) / 1000
        const p = predict(head, testIdx.map((i) => plain[i]!))
        const m = predict(head, testIdx.map((i) => mirrored[i]!))
        head.dispose()
        epochs.push(epochCount)
        plainAcc.push(accuracy(p, testLabels, classes.length))
        ttaAcc.push(accuracy(p.map((v, k) => (v + m[k]!) / 2), testLabels, classes.length))
      }
      results[name] = { test: stats(plainAcc), testFlipTta: stats(ttaAcc), epochs, headSeconds: round(seconds / SEEDS.length) }
      process.stderr.write(`${set.name} ${name} ${JSON.stringify(results[name])}\n`)
    }
    report[set.name] = { train: trainIdx.length, test: testIdx.length, classes: classes.length, augmentedViews: augmented, extractSeconds: round(extractSeconds), embeddings: items.length, recipes: results }
  }
} finally {
  await pool.close()
  base.dispose()
  await rm(work, { recursive: true, force: true })
}
console.log(JSON.stringify({ bench: 'train-quality', base: BASE, backend, seeds: SEEDS, sets: report, cores: os.availableParallelism(), loadAverage: os.loadavg().map(round) }))

function stats(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1))
  return { mean: round(mean), sd: round(sd), worst: round(Math.min(...xs)), best: round(Math.max(...xs)), perSeed: xs.map(round) }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
