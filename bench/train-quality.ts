/**
 * Training quality on a small real image set (twemoji-groups: 5 emoji groups × 100 drawings, built from npm
 * packages by /work/shared/datasets/make-bench-sets.sh): the job defaults with the bundled MobileNetV2, head only
 * vs head + fineTuneLayers vs + augmentation. Each run starts from an empty feature cache, so its seconds include
 * embedding (the cold cost a first job pays). Prints one JSON line.
 *
 *   npx tsx bench/train-quality.ts [SETS_DIR]     (default /tmp/benchsets; built there when missing)
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { trainOptions } from '../src/contract/jobs.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase } from '../src/ml/bases.js'
import { trainClassifier, type TrainClassifierOptions, type TrainExample } from '../src/ml/train-classifier.js'
import { createFeatureCache } from '../src/storage/features.js'

const SETS_DIR = process.argv[2] ?? '/tmp/benchsets'
const SET = 'twemoji-groups'
const MAKE_SETS = '/work/shared/datasets/make-bench-sets.sh'
/** MobileNetV2's Conv_1 and block_16_project: both 1×1 convolutions, trained from block_16_depthwise_relu. */
const FINE_TUNE_LAYERS = 2
const SEED = 1
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

async function main(): Promise<void> {
  if (!existsSync(path.join(SETS_DIR, SET))) execFileSync('bash', [MAKE_SETS, SETS_DIR], { stdio: 'inherit' })
  const { name: backend } = await initBackend()
  const { labels, examples } = await loadSet(path.join(SETS_DIR, SET))
  const work = await mkdtemp(path.join(tmpdir(), 'imagetune-bench-quality-'))
  const base = await loadBase('mobilenet_v2', path.join(work, 'bases'))
  // Exactly what POST /jobs fills in for {datasetId, seed}.
  const defaults = trainOptions({ datasetId: 'bench', seed: SEED }, labels)
  const common: TrainClassifierOptions = { ...defaults, earlyStopping: undefined, augment: undefined }
  // Two views keep the run to minutes on 2 cores; each view costs one more embedding pass and fine-tuning steps.
  const allAugment = { flip: true, crop: true, rotate: true, brightness: true, contrast: true, views: 2 }
  const configs: [string, TrainClassifierOptions][] = [
    ['head', common],
    [`head+fineTune${FINE_TUNE_LAYERS}`, { ...common, fineTuneLayers: FINE_TUNE_LAYERS }],
    [`head+fineTune${FINE_TUNE_LAYERS}+augment${allAugment.views}`, { ...common, fineTuneLayers: FINE_TUNE_LAYERS, augment: allAugment }],
  ]
  const runs = []
  try {
    for (const [name, options] of configs) {
      const started = performance.now()
      const result = await trainClassifier({ base, labels, examples, options, cache: createFeatureCache(path.join(work, `cache-${runs.length}`)), maxPixels: MAX_PIXELS })
      const seconds = (performance.now() - started) / 1000
      result.model.dispose()
      runs.push({
        name,
        valAccuracy: result.metrics.accuracy,
        macroF1: result.metrics.macro?.f1 ?? null,
        bestEpoch: result.bestEpoch,
        epochs: result.history.length,
        trainViews: result.trainViews,
        valCount: result.valCount,
        seconds: Math.round(seconds * 10) / 10,
        extractSeconds: Math.round(result.timings.extracting * 10) / 10,
        trainSeconds: Math.round(result.timings.training * 10) / 10,
      })
      process.stderr.write(`${JSON.stringify(runs.at(-1))}\n`)
    }
  } finally {
    base.dispose()
    await rm(work, { recursive: true, force: true })
  }
  console.log(JSON.stringify({ bench: 'train-quality', set: SET, images: examples.length, classes: labels.length, backend, seed: SEED, defaults: common, runs }))
}

await main()
