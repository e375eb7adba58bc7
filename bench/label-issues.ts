/**
 * How well the data insights of a job work, on real image sets (mnist: 10 digits × 100; twemoji-groups: 5 emoji
 * groups × 100; built from npm packages by /work/shared/datasets/make-bench-sets.sh), with the bundled MobileNetV2:
 * - label issues: labels flipped on purpose (to a random other class) at several rates and seeds; precision and
 *   recall of `result.labelIssues` against the flipped set, and precision among the top k (k = flipped count);
 * - near-duplicates: a seeded sample of images gets three modified copies each (resized to ½, re-encoded as JPEG
 *   q60, 90 % centre crop); recall of copy→original pairs and count of pairs of distinct pictures, per pair of
 *   thresholds (embedding, pixel);
 * - cost: seconds per job of thumbnails (decoded, as on a first job) + `dataInsights` (label issues, learning
 *   curve, duplicate search), base features cached.
 * Features are cached under SETS_DIR/.feature-cache, so a second run skips embedding. Prints one JSON line.
 *
 *   npx tsx bench/label-issues.ts [SETS_DIR] [BASE]     (default /tmp/bench-sets, built there when missing;
 *                                                        BASE a built-in base id, default mobilenet_v2)
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import path from 'node:path'
import sharp, { type Sharp } from 'sharp'
import { initBackend } from '../src/ml/backend.js'
import { loadBase, type BuiltinBaseId } from '../src/ml/bases.js'
import { dataInsights } from '../src/ml/data-insights.js'
import { extractFeatures, type FeatureItem } from '../src/ml/features.js'
import { outOfFoldProbs } from '../src/ml/kfold-probe.js'
import { findLabelIssues } from '../src/ml/label-issues.js'
import { EMBEDDING_THRESHOLD, findNearDuplicates, PIXEL_THRESHOLD } from '../src/ml/near-duplicates.js'
import { seededRandom } from '../src/ml/random.js'
import { thumbnailDescriptors } from '../src/ml/thumbnails.js'
import { createFeatureCache, type FeatureCache } from '../src/storage/features.js'

const SETS_DIR = process.argv[2] ?? '/tmp/bench-sets'
const BASE = (process.argv[3] ?? 'mobilenet_v2') as BuiltinBaseId
const SETS = ['mnist', 'twemoji-groups']
const MAKE_SETS = '/work/shared/datasets/make-bench-sets.sh'
const FLIP_RATES = [0.05, 0.1, 0.2]
const SEEDS = [1, 2]
/** Originals per set that get modified copies. */
const COPIED = 60
/** [embedding, pixel] thresholds tried; above 1 turns a test off. The defaults come first. */
const THRESHOLDS: [number, number][] = [
  [EMBEDDING_THRESHOLD, PIXEL_THRESHOLD],
  [0.95, PIXEL_THRESHOLD],
  [0.9, PIXEL_THRESHOLD],
  [EMBEDDING_THRESHOLD, 0.98],
  [EMBEDDING_THRESHOLD, 0.995],
  [EMBEDDING_THRESHOLD, 2],
  [0.95, 2],
  [0.9, 2],
  [2, PIXEL_THRESHOLD],
]
/** A cache that never hits: thumbnails timed as a first job pays for them. */
const NO_CACHE: FeatureCache = { get: async () => undefined, put: async () => {} }
const MAX_PIXELS = 40_000_000

type Copy = 'resized' | 'jpeg' | 'crop'
const COPIES: Record<Copy, (image: Sharp, width: number, height: number) => Sharp> = {
  resized: (image, w, h) => image.resize(Math.max(8, Math.round(w / 2)), Math.max(8, Math.round(h / 2))).png(),
  jpeg: (image) => image.flatten({ background: '#ffffff' }).jpeg({ quality: 60 }),
  crop: (image, w, h) => {
    const cw = Math.round(w * 0.9)
    const ch = Math.round(h * 0.9)
    return image.extract({ left: Math.floor((w - cw) / 2), top: Math.floor((h - ch) / 2), width: cw, height: ch }).png()
  },
}

interface Image {
  bytes: Buffer
  label: number
  path: string
}

async function loadSet(dir: string): Promise<{ classNames: string[]; images: Image[] }> {
  const classNames = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  const images: Image[] = []
  for (const [label, name] of classNames.entries()) {
    for (const file of (await readdir(path.join(dir, name))).sort()) {
      images.push({ bytes: await readFile(path.join(dir, name, file)), label, path: `images/${name}/${file}` })
    }
  }
  return { classNames, images }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const round = (x: number) => Math.round(x * 1000) / 1000

function flipLabels(labels: number[], classes: number, rate: number, seed: number): { given: number[]; flipped: Set<number> } {
  const random = seededRandom(seed)
  const order = labels.map((_, i) => i)
  const count = Math.round(labels.length * rate)
  // A seeded choice of exactly `count` images, each moved to a random other class.
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const flipped = new Set(order.slice(0, count))
  const given = labels.map((y, i) => (flipped.has(i) ? (y + 1 + Math.floor(random() * (classes - 1))) % classes : y))
  return { given, flipped }
}

async function main(): Promise<void> {
  if (!SETS.every((s) => existsSync(path.join(SETS_DIR, s)))) execFileSync('bash', [MAKE_SETS, SETS_DIR], { stdio: 'inherit' })
  const { name: backend } = await initBackend()
  const base = await loadBase(BASE, path.join(SETS_DIR, '.bases'))
  const cache = createFeatureCache(path.join(SETS_DIR, '.feature-cache'))
  const embed = async (items: FeatureItem[]) => {
    const started = performance.now()
    const features = await extractFeatures(base, items, { cache, maxPixels: MAX_PIXELS })
    return { features, seconds: (performance.now() - started) / 1000 }
  }
  const results = []
  try {
    for (const set of SETS) {
      const { classNames, images } = await loadSet(path.join(SETS_DIR, set))
      const labels = images.map((i) => i.label)
      const embedded = await embed(images.map((i) => ({ key: sha256(i.bytes), read: async () => i.bytes })))
      const { features } = embedded

      const labelIssues = []
      for (const rate of FLIP_RATES) {
        for (const seed of SEEDS) {
          const { given, flipped } = flipLabels(labels, classNames.length, rate, seed)
          const started = performance.now()
          const issues = findLabelIssues(outOfFoldProbs(features, given, classNames.length, { seed }), given, Infinity)
          const seconds = (performance.now() - started) / 1000
          const hits = issues.filter((x) => flipped.has(x.index)).length
          const topK = issues.slice(0, flipped.size).filter((x) => flipped.has(x.index)).length
          labelIssues.push({ rate, seed, flipped: flipped.size, reported: issues.length, precision: round(hits / Math.max(1, issues.length)), recall: round(hits / flipped.size), precisionAtK: round(topK / flipped.size), seconds: round(seconds) })
          process.stderr.write(`${set} ${JSON.stringify(labelIssues.at(-1))}\n`)
        }
      }

      // Cost of everything a job adds on the clean labels: thumbnails (decoded, as on a first job), label issues,
      // learning curve, duplicates.
      const items = images.map((i) => ({ key: sha256(i.bytes), read: async () => i.bytes }))
      const started = performance.now()
      const thumbnails = await thumbnailDescriptors(items, { cache: NO_CACHE, maxPixels: MAX_PIXELS })
      const thumbnailSeconds = (performance.now() - started) / 1000
      const insights = dataInsights({ features, thumbnails, labels, classNames, paths: images.map((i) => i.path), validation: new Set(), seed: 1 })
      const jobSeconds = (performance.now() - started) / 1000

      // Near-duplicates: originals plus modified copies, grouped by the original they come from.
      const random = seededRandom(99)
      const picked = images.map((_, i) => i).filter(() => random() < COPIED / images.length)
      const copies: { bytes: Buffer; group: number; kind: Copy }[] = []
      for (const i of picked) {
        const meta = await sharp(images[i]!.bytes).metadata()
        for (const [kind, make] of Object.entries(COPIES) as [Copy, (typeof COPIES)[Copy]][]) {
          copies.push({ bytes: await make(sharp(images[i]!.bytes), meta.width ?? 0, meta.height ?? 0).toBuffer(), group: i, kind })
        }
      }
      const copyItems = copies.map((c) => ({ key: sha256(c.bytes), read: async () => c.bytes }))
      const copyFeatures = (await embed(copyItems)).features
      const all = [...features, ...copyFeatures]
      const allThumbnails = [...thumbnails, ...(await thumbnailDescriptors(copyItems, { cache: NO_CACHE, maxPixels: MAX_PIXELS }))]
      const groupOf = (k: number) => (k < images.length ? k : copies[k - images.length]!.group)
      const hashOf = (k: number) => sha256(k < images.length ? images[k]!.bytes : copies[k - images.length]!.bytes)
      const isCopy = (k: number) => k >= images.length
      const nearDuplicates = THRESHOLDS.map(([embeddingThreshold, pixelThreshold]) => {
        const found = findNearDuplicates(all, allThumbnails, { embeddingThreshold, pixelThreshold, max: Infinity })
        const copyToOriginal = found.filter((p) => isCopy(p.b) && !isCopy(p.a) && groupOf(p.a) === groupOf(p.b))
        const byKind = Object.fromEntries(
          (Object.keys(COPIES) as Copy[]).map((kind) => [kind, round(copyToOriginal.filter((p) => copies[p.b - images.length]!.kind === kind).length / picked.length)]),
        )
        // Pairs of distinct pictures: neither copies of one original nor the same bytes.
        const others = found.filter((p) => groupOf(p.a) !== groupOf(p.b) && hashOf(p.a) !== hashOf(p.b))
        return { embeddingThreshold, pixelThreshold, recall: round(copyToOriginal.length / copies.length), recallByKind: byKind, otherPairs: others.length, otherPairsAmongOriginals: others.filter((p) => !isCopy(p.a) && !isCopy(p.b)).length }
      })
      results.push({
        set,
        images: images.length,
        classes: classNames.length,
        embedSeconds: round(embedded.seconds),
        labelIssues,
        job: { seconds: round(jobSeconds), thumbnailSeconds: round(thumbnailSeconds), timings: insights.timings, cleanLabelIssues: insights.labelIssues?.length, nearDuplicates: insights.nearDuplicates?.length, learningCurve: insights.classGuidance?.learningCurve, accuracyAtDouble: insights.classGuidance?.accuracyAtDouble },
        nearDuplicates: { originalsCopied: picked.length, copies: copies.length, byThreshold: nearDuplicates },
      })
      process.stderr.write(`${JSON.stringify(results.at(-1))}\n`)
    }
  } finally {
    base.dispose()
  }
  console.log(JSON.stringify({ bench: 'label-issues', base: BASE, backend, cores: availableParallelism(), loadAverage1m: round(loadavg()[0]!), thresholds: { embedding: EMBEDDING_THRESHOLD, pixel: PIXEL_THRESHOLD }, results }))
}

await main()
