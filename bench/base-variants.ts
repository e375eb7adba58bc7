/**
 * Checks the COCO MobileNetV3 base's settings (input side and pixel scaling) on a real set: the same linear probe
 * as bench/base-quality (softmax on standardised features, l2 1e-3, seeded 80/20 splits) for each variant, several
 * seeds. Features go through the feature threads. Prints one JSON line; progress on stderr.
 *
 *   npx tsx bench/base-variants.ts [SET_DIR] [SEEDS]     (defaults /tmp/bench-sets/twemoji-groups, 3)
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { trainOptions } from '../src/contract/jobs.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase, type UrlBaseRef } from '../src/ml/bases.js'
import { createFeaturePool } from '../src/ml/feature-pool.js'
import type { Preprocessing } from '../src/contract/jobs.js'
import { trainClassifier, type TrainExample } from '../src/ml/train-classifier.js'
import { createFeatureCache } from '../src/storage/features.js'

const SET_DIR = process.argv[2] ?? '/tmp/bench-sets/twemoji-groups'
const SEEDS = Number(process.argv[3] ?? 3)
const GRAPH = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models', 'centernet.json')
const VARIANTS: [number, Preprocessing][] = [
  [224, 'raw_0_255'],
  [320, 'raw_0_255'],
  [416, 'raw_0_255'],
  [320, 'scale_0_1'],
]

const { name: backend } = await initBackend('wasm')
const labels = (await readdir(SET_DIR, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()
const examples: TrainExample[] = []
for (const [label, name] of labels.entries()) {
  for (const file of (await readdir(path.join(SET_DIR, name))).sort()) {
    const bytes = await readFile(path.join(SET_DIR, name, file))
    examples.push({ key: createHash('sha256').update(bytes).digest('hex'), label, read: async () => bytes })
  }
}
const work = await mkdtemp(path.join(tmpdir(), 'imagetune-bench-variants-'))
const results = []
try {
  for (const [size, preprocessing] of VARIANTS) {
    const ref: UrlBaseRef = { url: GRAPH, featureLayer: 'tower_0/extern1/hard_swish/mul_1', inputSize: size, preprocessing }
    const base = await loadBase(ref, path.join(work, 'bases'))
    const pool = await createFeaturePool({ base: ref, basesDir: path.join(work, 'bases'), threads: availableParallelism() })
    const cache = createFeatureCache(path.join(work, 'cache')) // each variant has its own base id, so its own folder
    const accuracy = []
    try {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const options = { ...trainOptions({ datasetId: 'bench', seed }, labels), earlyStopping: undefined, augment: undefined, hiddenUnits: 0, dropout: 0, l2: 1e-3, standardize: true }
        const result = await trainClassifier({ base, labels, examples, options, cache, maxPixels: 40_000_000, embed: (px) => pool.embed(px) })
        result.model.dispose()
        accuracy.push(result.metrics.accuracy ?? Number.NaN)
      }
    } finally {
      await pool.close()
      base.dispose()
    }
    const mean = accuracy.reduce((a, b) => a + b, 0) / accuracy.length
    results.push({ size, preprocessing, mean: Math.round(mean * 1000) / 1000, perSeed: accuracy })
    process.stderr.write(`${JSON.stringify(results.at(-1))}\n`)
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
console.log(JSON.stringify({ bench: 'base-variants', set: path.basename(SET_DIR), images: examples.length, backend, seeds: SEEDS, probe: 'softmax on standardised features, l2 1e-3', results }))
