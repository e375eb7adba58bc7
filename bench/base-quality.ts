/**
 * Which bundled base transfers better: the same sets, splits and heads on each base, several seeds. Sets are real
 * ImageFolder trees under SETS_DIR: the ones /work/shared/datasets/make-bench-sets.sh builds (mnist: 10 digits × 100
 * grey 28 px scans; twemoji-groups: 5 emoji groups × 100 drawings) and fashion-mnist (10 garment classes × 100 grey
 * 28 px photos, from Debian's dataset-fashion-mnist; bench/make-fashion-mnist.sh builds it). Per set, base and seed (the seed draws the stratified 80/20 split
 * and the head's initialisation):
 *   - job: what `POST /jobs {datasetId, seed}` trains (its defaults, early stopping off);
 *   - probe: a linear softmax on standardised features (hiddenUnits 0, l2 1e-3), the usual linear-probe measure.
 * Features are embedded once per base and set (through the feature threads, cached), so seeds cost head training
 * only. Prints one JSON line; progress goes to stderr.
 *
 *   npx tsx bench/base-quality.ts [SETS_DIR] [SEEDS] [SETS]
 *   (defaults /tmp/bench-sets, 3, twemoji-groups,mnist,fashion-mnist; SETS is a comma-separated list of folders)
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { trainOptions } from '../src/contract/jobs.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase, type BuiltinBaseId } from '../src/ml/bases.js'
import { createFeaturePool } from '../src/ml/feature-pool.js'
import { trainClassifier, type TrainClassifierOptions, type TrainExample } from '../src/ml/train-classifier.js'
import { createFeatureCache } from '../src/storage/features.js'

const SETS_DIR = process.argv[2] ?? '/tmp/bench-sets'
const SEEDS = Number(process.argv[3] ?? 3)
const SETS = (process.argv[4] ?? 'twemoji-groups,mnist,fashion-mnist').split(',')
const BASES: BuiltinBaseId[] = ['mobilenet_v2', 'mobilenet_v3_coco']
const MAKE_SETS = '/work/shared/datasets/make-bench-sets.sh'
const MAKE_FASHION = fileURLToPath(new URL('make-fashion-mnist.sh', import.meta.url))
const MAX_PIXELS = 40_000_000

async function loadSet(dir: string): Promise<{ labels: string[]; examples: TrainExample[] }> {
  const labels = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  const examples: TrainExample[] = []
  for (const [label, name] of labels.entries()) {
    for (const file of (await readdir(path.join(dir, name))).sort()) {
      const bytes = await readFile(path.join(dir, name, file))
      examples.push({ key: createHash('sha256').update(bytes).digest('hex'), label, path: `${name}/${file}`, read: async () => bytes })
    }
  }
  return { labels, examples }
}

const round = (x: number) => Math.round(x * 1000) / 1000
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)))

async function main(): Promise<void> {
  const missing = SETS.filter((s) => !existsSync(path.join(SETS_DIR, s)))
  if (missing.some((s) => s !== 'fashion-mnist')) execFileSync('bash', [MAKE_SETS, SETS_DIR], { stdio: 'inherit' })
  if (missing.includes('fashion-mnist')) execFileSync('bash', [MAKE_FASHION, SETS_DIR], { stdio: 'inherit' })
  const { name: backend } = await initBackend('wasm')
  const work = await mkdtemp(path.join(tmpdir(), 'imagetune-bench-bases-'))
  const basesDir = path.join(work, 'bases')
  const cache = createFeatureCache(path.join(work, 'cache'))
  const rows = []
  try {
    for (const baseName of BASES) {
      const base = await loadBase(baseName, basesDir)
      const pool = await createFeaturePool({ base: baseName, basesDir, threads: availableParallelism() })
      try {
        for (const set of SETS) {
          const { labels, examples } = await loadSet(path.join(SETS_DIR, set))
          for (let seed = 1; seed <= SEEDS; seed++) {
            const defaults = trainOptions({ datasetId: 'bench', seed }, labels)
            const job: TrainClassifierOptions = { ...defaults, earlyStopping: undefined, augment: undefined }
            const probe: TrainClassifierOptions = { ...job, hiddenUnits: 0, dropout: 0, l2: 1e-3, standardize: true }
            for (const [kind, options] of [['job', job], ['probe', probe]] as const) {
              const started = performance.now()
              const result = await trainClassifier({ base, labels, examples, options, cache, maxPixels: MAX_PIXELS, embed: (px) => pool.embed(px) })
              result.model.dispose()
              const row = { set, base: baseName, seed, kind, accuracy: round(result.metrics.accuracy ?? Number.NaN), valCount: result.valCount, extractSeconds: round(result.timings.extracting), seconds: round((performance.now() - started) / 1000) }
              rows.push(row)
              process.stderr.write(`${JSON.stringify(row)}\n`)
            }
          }
        }
      } finally {
        await pool.close()
        base.dispose()
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  const summary = []
  for (const set of SETS) {
    for (const kind of ['job', 'probe']) {
      for (const baseName of BASES) {
        const acc = rows.filter((r) => r.set === set && r.kind === kind && r.base === baseName).map((r) => r.accuracy)
        summary.push({ set, kind, base: baseName, mean: round(mean(acc)), sd: round(sd(acc)), perSeed: acc })
      }
    }
  }
  console.log(JSON.stringify({ bench: 'base-quality', backend, seeds: SEEDS, threads: availableParallelism(), summary, rows }))
}

await main()
