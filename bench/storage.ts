/**
 * bench/storage: what the S3 store costs against local disk, through the real service (`src/main.ts` child
 * processes) with an S3-protocol server (s3rver) in this process on loopback. Per driver, in one run:
 *   job:   upload → registered model, 2 classes × 40 images at 224 px, default job (fresh DATA_DIR: the base is
 *          extracted and features computed), then the same images again as a new dataset (features cached)
 *   load:  a fresh API process (on S3: an empty DATA_DIR) answering its first prediction, which loads the model
 *          from the store, against its second (model in memory)
 *   alias: PUT an alias through API A, poll API B every 10 ms until it answers the new target (S3 only; on one
 *          DATA_DIR there is one process)
 *   rss:   peak RSS (VmHWM) of an API process (EMBEDDED_WORKER=false) across the upload + ingestion of a
 *          BENCH_ARCHIVE_MB archive (default 512) of incompressible PNGs, against its RSS before
 * Prints ONE JSON line. Run: `npx tsx bench/storage.ts` (Linux: RSS from /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { createWriteStream, openAsBlob, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import S3rver from 's3rver'
import sharp from 'sharp'
import yazl from 'yazl'
import { freePort } from '../test/helpers/net.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const ARCHIVE_MB = Number(process.env.BENCH_ARCHIVE_MB ?? 512)
const BUCKET = 'imagetune-bench'
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>, every = 50): Promise<T> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined) return v
    await sleep(every)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** 2 classes × 40 JPEGs at 224 px: a circle whose colour and place vary. */
async function jobArchive(): Promise<Buffer> {
  const z = new yazl.ZipFile()
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < 40; i++) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="224" height="224"><rect width="224" height="224" fill="rgb(${(i * 37) % 255},${(i * 91) % 255},${(c * 60 + i) % 255})"/><circle cx="${60 + c * 60}" cy="${80 + (i % 40)}" r="${30 + c * 20}" fill="rgb(${c * 200},${200 - c * 150},90)"/></svg>`
      z.addBuffer(await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer(), `class-${c}/${i}.jpg`)
    }
  }
  z.end()
  const chunks: Buffer[] = []
  for await (const chunk of z.outputStream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** A zip of incompressible 1024² PNGs (≈3 MiB each) up to `mb` MiB, written to `file` without holding it whole. */
async function largeArchive(file: string, mb: number): Promise<number> {
  const z = new yazl.ZipFile()
  const done = pipeline(z.outputStream, createWriteStream(file))
  const png = await sharp(randomBytes(1024 * 1024 * 3), { raw: { width: 1024, height: 1024, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer()
  const count = Math.max(2, Math.ceil((mb * 1024 * 1024) / png.length))
  // One noise image stored `count` times, in two classes: what is measured is bytes moved, not decoding variety.
  for (let i = 0; i < count; i++) z.addBuffer(png, `${i % 2 ? 'a' : 'b'}/${i}.png`, { compress: false })
  z.end()
  await done
  return (await stat(file)).size
}

interface Service {
  url: string
  child: ChildProcess
  stop(): Promise<void>
}

/** Every service started, so a failed run stops them all. */
const started: ChildProcess[] = []

async function startService(env: Record<string, string>, logFile: string): Promise<Service> {
  const port = await freePort()
  const log = openSync(logFile, 'a')
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', log, log] })
  started.push(child)
  const url = `http://127.0.0.1:${port}`
  let last = ''
  await until('the service', 60_000, async () => {
    const response = await fetch(`${url}/readyz`)
    last = await response.text()
    return response.ok ? true : undefined
  }).catch((err: Error) => {
    child.kill('SIGKILL')
    throw new Error(`${err.message}; /readyz said ${last}`)
  })
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM')
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r))
    },
  }
}

async function upload(url: string, body: Blob): Promise<string> {
  const form = new FormData()
  form.append('file', body, 'bench.zip')
  const response = await fetch(`${url}/datasets`, { method: 'POST', body: form })
  const dataset = (await response.json()) as any
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${JSON.stringify(dataset)}`)
  return dataset.id
}

async function train(url: string, archive: Buffer): Promise<{ seconds: number; modelId: string }> {
  const t0 = performance.now()
  const datasetId = await upload(url, new Blob([new Uint8Array(archive)]))
  const res = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, seed: 1 }) })
  const created = (await res.json()) as any
  const job = await until('the job', 900_000, async () => {
    const doc = (await (await fetch(`${url}/jobs/${created.id}`)).json()) as any
    if (doc.status === 'failed') throw new Error(`job failed: ${JSON.stringify(doc.error)}`)
    return doc.status === 'completed' ? doc : undefined
  }, 100)
  return { seconds: (performance.now() - t0) / 1000, modelId: job.result.modelId }
}

async function predictMs(url: string, model: string, image: Buffer): Promise<number> {
  const t0 = performance.now()
  const response = await fetch(`${url}/predict?model=${model}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(image) })
  const body = (await response.json()) as any
  if (response.status !== 200) throw new Error(`predict failed: ${JSON.stringify(body)}`)
  return performance.now() - t0
}

/** VmRSS and VmHWM (peak) of a process, MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: round(kib('VmRSS') / 1024, 0), peak: round(kib('VmHWM') / 1024, 0) }
}

const work = await mkdtemp(path.join(os.tmpdir(), 'imagetune-bench-storage-'))
const s3dir = path.join(work, 's3')
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: BUCKET }] })
const { port: s3port } = await server.run()
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' })
const storageUrl = (prefix: string) => `s3://${BUCKET}/${prefix}?endpoint=${encodeURIComponent(`http://127.0.0.1:${s3port}`)}&forcePathStyle=true&region=us-east-1`
const logFile = path.join(os.tmpdir(), 'imagetune-bench-storage.log')

const archive = await jobArchive()
const probe = await sharp({ create: { width: 224, height: 224, channels: 3, background: '#3366cc' } }).jpeg().toBuffer()
const big = path.join(work, 'big.zip')
const bigBytes = await largeArchive(big, ARCHIVE_MB)
const results: Record<string, unknown> = {}
const loadBefore = os.loadavg().map((x) => round(x))

try {
  for (const driver of ['local', 's3'] as const) {
    const queue = `bench-${randomUUID().slice(0, 8)}`
    const store: Record<string, string> = driver === 's3' ? { STORAGE_URL: storageUrl(queue) } : {}
    const dataDir = await mkdtemp(path.join(work, `${driver}-`))
    const common = { ...store, QUEUE_PREFIX: queue, LOG_LEVEL: 'info', PREDICT_THREADS: '1' }

    // Job: API + embedded worker, as `npm start`.
    const service = await startService({ ...common, DATA_DIR: dataDir }, logFile)
    const cold = await train(service.url, archive)
    const warm = await train(service.url, archive)
    await service.stop()

    // First prediction in a fresh API: on S3 a new, empty DATA_DIR (only the bucket has the model).
    const apiDir = driver === 's3' ? await mkdtemp(path.join(work, 'api-a-')) : dataDir
    const a = await startService({ ...common, DATA_DIR: apiDir, EMBEDDED_WORKER: 'false' }, logFile)
    const first = await predictMs(a.url, cold.modelId, probe)
    const second = await predictMs(a.url, cold.modelId, probe)

    let aliasMs: number | null = null
    if (driver === 's3') {
      const b = await startService({ ...common, DATA_DIR: await mkdtemp(path.join(work, 'api-b-')), EMBEDDED_WORKER: 'false' }, logFile)
      const put = (modelId: string) => fetch(`${a.url}/models/aliases/bench`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ modelId }) })
      await put(cold.modelId)
      await until('B to see the alias', 10_000, async () => (((await (await fetch(`${b.url}/models/aliases/bench`)).json()) as any).modelId === cold.modelId ? true : undefined), 10)
      await (await put(warm.modelId)).arrayBuffer()
      const moved = performance.now()
      await until('B to see the move', 10_000, async () => (((await (await fetch(`${b.url}/models/aliases/bench`)).json()) as any).modelId === warm.modelId ? true : undefined), 10)
      aliasMs = round(performance.now() - moved, 0)
      await b.stop()
    }

    // Upload RSS: the same API process, a large archive streamed from disk.
    const before = memory(a.child.pid!)
    const t0 = performance.now()
    await upload(a.url, await openAsBlob(big))
    const uploadSeconds = (performance.now() - t0) / 1000
    const after = memory(a.child.pid!)
    await a.stop()

    results[driver] = {
      jobColdSeconds: round(cold.seconds),
      jobWarmSeconds: round(warm.seconds),
      firstPredictionMs: round(first, 0),
      secondPredictionMs: round(second, 0),
      aliasPropagationMs: aliasMs,
      upload: { archiveMiB: round(bigBytes / 2 ** 20, 0), seconds: round(uploadSeconds), rssBeforeMiB: before.rss, peakRssBeforeMiB: before.peak, peakRssAfterMiB: after.peak },
    }
  }
  console.log(JSON.stringify({ bench: 'storage', ...results, cores: os.availableParallelism(), loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg().map((x) => round(x)) }))
} finally {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL')
  await server.close()
  await rm(work, { recursive: true, force: true })
}
