/**
 * `npx tsx bench/predict.ts`: POST /predict throughput and latency on a MobileNetV2 classifier (the bundled base
 * with an untrained 3-class head: inference cost is the same as a trained one's), with micro-batching on and off.
 * Starts the API in this process for each mode, on the configured prediction threads, then drives it at each
 * concurrency for a fixed number of requests (one 224×224 JPEG each). Before each mode it times the anchor: the
 * same classifier's forward pass on one decoded image on this thread (no HTTP, decoding or threads), so each row
 * also reads as a ratio to a figure taken under the same load. Prints one JSON line.
 * Env: BENCH_REQUESTS (per concurrency level, default 96), PREDICT_THREADS (default: cores), BENCH_BASE (default
 * mobilenet_v2, the reference; mobilenet_v3_coco is the default base's served model, a GraphModel at 320 px).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { loadConfig } from '../src/config.js'
import { buildApp } from '../src/http/app.js'
import { createLogger } from '../src/logger.js'
import { initBackend } from '../src/ml/backend.js'
import { loadBase, type BuiltinBaseId } from '../src/ml/bases.js'
import { composeModel } from '../src/ml/export.js'
import { modelToFiles } from '../src/ml/file-io.js'
import { decodeImage } from '../src/ml/image.js'
import { createModelRunner } from '../src/ml/model-runner.js'
import { dataLayout } from '../src/storage/layout.js'
import { createModelStore } from '../src/storage/models.js'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 96)
const CONCURRENCY = [1, 8, 32]
const BASE = (process.env.BENCH_BASE ?? 'mobilenet_v2') as BuiltinBaseId
const MODEL_ID = `bench-${BASE.replaceAll('_', '-')}`
const LABELS = ['a', 'b', 'c']
/**
 * Micro-batching off is a batch of one: every image its own forward pass. 'busy' is the default: no delay, images
 * batch only while every thread is busy. 'delay5' is the former default, a 5 ms wait for company.
 */
const MODES = [
  { batching: 'off', PREDICT_MAX_BATCH: '1', PREDICT_MAX_DELAY_MS: '0' },
  { batching: 'busy', PREDICT_MAX_BATCH: '16', PREDICT_MAX_DELAY_MS: '0' },
  { batching: 'delay5', PREDICT_MAX_BATCH: '16', PREDICT_MAX_DELAY_MS: '5' },
] as const
/** Forward passes timed for the anchor. */
const ANCHOR_RUNS = 40

/** Writes the benchmark model into `dataDir`: the base's trunk + a seeded dense softmax head; returns its input side. */
async function writeModel(dataDir: string): Promise<number> {
  const layout = dataLayout(dataDir)
  const base = await loadBase(BASE, layout.bases)
  const input = tf.input({ shape: [base.featureSize], name: 'head_input' })
  const output = tf.layers.dense({ units: LABELS.length, activation: 'softmax', name: 'head_output', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor
  const head = tf.model({ inputs: input, outputs: output })
  const model = await composeModel(base, head)
  await createModelStore(layout.models).save(MODEL_ID, await modelToFiles(model), {
    id: MODEL_ID,
    createdAt: new Date().toISOString(),
    labels: LABELS,
    base: { id: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing, format: base.kind === 'graph' ? 'graph-model' : 'layers-model' },
    metrics: { count: 0, accuracy: null, topK: [], labels: LABELS, perClass: [], macro: null, weighted: null, confusionMatrix: [], confusionByLabel: {}, classesWithoutSupport: [] },
    history: [],
  })
  model.dispose()
  head.dispose()
  base.dispose()
  return base.inputSize
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

/**
 * The anchor, measured between the modes so it sees the same machine load: the classifier's forward pass on one
 * decoded image, on this thread with no HTTP, decoding or threads: the floor a request's latency sits on, ms (median).
 */
async function anchorMs(dataDir: string, images: Buffer[], size: number): Promise<number> {
  const runner = createModelRunner({ models: createModelStore(dataLayout(dataDir).models) })
  const pixels = await Promise.all(images.map((b) => decodeImage(b, size, { maxPixels: 50_000_000 })))
  await runner.run(MODEL_ID, [pixels[0]!]) // loads and warms
  const times: number[] = []
  for (let i = 0; i < ANCHOR_RUNS; i++) {
    const t0 = performance.now()
    await runner.run(MODEL_ID, [pixels[i % pixels.length]!])
    times.push(performance.now() - t0)
  }
  await runner.close()
  times.sort((a, b) => a - b)
  return Math.round(percentile(times, 0.5) * 10) / 10
}

await initBackend('wasm')
const dataDir = await mkdtemp(path.join(tmpdir(), 'imagetune-bench-'))
const results: Record<string, unknown>[] = []
const anchors: number[] = []
try {
  const size = await writeModel(dataDir)
  const images = await makeImages(32)
  for (const { batching, ...settings } of MODES) {
    anchors.push(await anchorMs(dataDir, images, size))
    // The bench sends ~600 requests a minute from one IP: lift the per-client limit so it measures serving, not 429s.
    const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', IMAGETUNE_BACKEND: 'wasm', RATE_LIMIT_PREDICT_PER_MIN: '1000000', ...settings })
    const app = await buildApp(config, createLogger(config.LOG_LEVEL, 'bench-predict'))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    try {
      // Every thread loads the model and warms up before anything is timed. Batches go to the first idle thread, so
      // a thread that started late may sit out the first round: drive until each holds the model.
      for (let round = 0; round < 20; round++) {
        await drive(url, images, config.PREDICT_THREADS * 2, config.PREDICT_THREADS * 8)
        const counts = await app.predictor.tensorCounts()
        if (counts.length >= Math.max(1, config.PREDICT_THREADS) && counts.every((n) => n > 0)) break
      }
      for (const concurrency of CONCURRENCY) {
        const r = await drive(url, images, concurrency)
        // p50 over the anchor: what serving adds to a bare forward pass; images/s over what 1/anchor gives on one thread.
        results.push({ batching, ...r, p50OverAnchor: Math.round((r.p50Ms / anchors.at(-1)!) * 100) / 100, rateOverOneThread: Math.round(((r.imagesPerSec * anchors.at(-1)!) / 1000) * 100) / 100 })
      }
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
    model: `${BASE} + dense head`,
    backend: 'wasm',
    threads: loadConfig({ ...process.env }).PREDICT_THREADS,
    cores: availableParallelism(),
    requestsPerLevel: REQUESTS,
    anchorMs: anchors,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    results,
  }),
)
