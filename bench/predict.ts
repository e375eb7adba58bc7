/**
 * `npx tsx bench/predict.ts`: POST /predict throughput and latency on a MobileNetV2 classifier (the bundled base
 * with an untrained 3-class head: inference cost is the same as a trained one's), with micro-batching on and off.
 * Starts the API in this process for each mode, on the configured prediction threads, then drives it at each
 * concurrency for a fixed number of requests (one 224×224 JPEG each). Prints one JSON line.
 * Env: BENCH_REQUESTS (per concurrency level, default 96), PREDICT_THREADS (default: cores).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { loadConfig } from '../src/config.js'
import { buildApp } from '../src/http/app.js'
import { createLogger } from '../src/logger.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase } from '../src/ml/bases.js'
import { composeClassifier } from '../src/ml/export.js'
import { modelToFiles } from '../src/ml/file-io.js'
import { dataLayout } from '../src/storage/layout.js'
import { createModelStore } from '../src/storage/models.js'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 96)
const CONCURRENCY = [1, 8, 32]
const MODEL_ID = 'bench-mobilenet-v2'
const LABELS = ['a', 'b', 'c']
/** Micro-batching off is a batch of one: every image its own forward pass. */
const MODES = [
  { batching: 'off', PREDICT_MAX_BATCH: '1', PREDICT_MAX_DELAY_MS: '0' },
  { batching: 'on', PREDICT_MAX_BATCH: '16', PREDICT_MAX_DELAY_MS: '5' },
] as const

/** Writes the benchmark model into `dataDir`: MobileNetV2 trunk + a seeded dense softmax head. */
async function writeModel(dataDir: string): Promise<void> {
  const layout = dataLayout(dataDir)
  const base = await loadBase('mobilenet_v2', layout.bases)
  const input = tf.input({ shape: [base.featureSize], name: 'head_input' })
  const output = tf.layers.dense({ units: LABELS.length, activation: 'softmax', name: 'head_output', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor
  const head = tf.model({ inputs: input, outputs: output })
  const model = await composeClassifier(base, head)
  await createModelStore(layout.models).save(MODEL_ID, await modelToFiles(model), {
    id: MODEL_ID,
    createdAt: new Date().toISOString(),
    labels: LABELS,
    base: { id: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing },
    metrics: { count: 0, accuracy: null, topK: [], labels: LABELS, perClass: [], macro: null, weighted: null, confusionMatrix: [], confusionByLabel: {}, classesWithoutSupport: [] },
    history: [],
  })
  model.dispose()
  head.dispose()
  base.dispose()
}

/** Distinct photos-sized JPEGs, so no cache anywhere can help. */
async function makeImages(n: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => {
      const raw = Buffer.alloc(224 * 224 * 3)
      for (let p = 0; p < raw.length; p++) raw[p] = (p * (i + 7) * 31 + ((p / 672) | 0) * 13) & 255
      return sharp(raw, { raw: { width: 224, height: 224, channels: 3 } }).jpeg({ quality: 85 }).toBuffer()
    }),
  )
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}

/** `requests` POSTs, `concurrency` in flight at a time. */
async function drive(url: string, images: Buffer[], concurrency: number, requests = REQUESTS) {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const image = images[next++ % images.length]!
        const t0 = performance.now()
        const response = await fetch(`${url}/predict?model=${MODEL_ID}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(image) })
        await response.arrayBuffer()
        if (response.status !== 200) throw new Error(`POST /predict answered ${response.status}`)
        latencies.push(performance.now() - t0)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 10) / 10
  return { concurrency, p50Ms: round(percentile(latencies, 0.5)), p99Ms: round(percentile(latencies, 0.99)), imagesPerSec: round(requests / seconds) }
}

await initBackend('wasm')
const dataDir = await mkdtemp(path.join(tmpdir(), 'imagetune-bench-'))
const results: unknown[] = []
try {
  await writeModel(dataDir)
  const images = await makeImages(32)
  for (const { batching, ...settings } of MODES) {
    // The bench sends ~600 requests a minute from one IP: lift the per-client limit so it measures serving, not 429s.
    const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', IMAGETUNE_BACKEND: 'wasm', RATE_LIMIT_PREDICT_PER_MIN: '1000000', ...settings })
    const app = await buildApp(config, createLogger(config.LOG_LEVEL, 'bench-predict'))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    try {
      // Every thread loads the model and warms up before anything is timed.
      await drive(url, images, config.PREDICT_THREADS * 2, config.PREDICT_THREADS * 8)
      for (const concurrency of CONCURRENCY) results.push({ batching, ...(await drive(url, images, concurrency)) })
    } finally {
      await app.close()
    }
  }
} finally {
  await rm(dataDir, { recursive: true, force: true })
}
console.log(
  JSON.stringify({
    bench: 'predict',
    model: 'mobilenet_v2 224px + dense head',
    backend: 'wasm',
    threads: loadConfig({ ...process.env }).PREDICT_THREADS,
    cores: availableParallelism(),
    requestsPerLevel: REQUESTS,
    results,
  }),
)
