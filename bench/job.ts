/**
 * bench/job: wall time from upload to a registered model, 4 classes × 50 images at 224 px, through the real
 * service (`src/main.ts`: API + worker + sandboxed processor, Redis at REDIS_URL or started by it).
 *   cold: a fresh DATA_DIR (base not yet extracted, empty feature cache), service already up
 *   warm: the same images uploaded again as a new dataset (every feature cached), same service
 * Prints ONE JSON line; the worker's phase timings come from its log, kept as $TMPDIR/imagetune-bench-job.log. Run: `npx tsx bench/job.ts`.
 * Images: /tmp/benchsets/twemoji-groups (make-bench-sets.sh) when present, else generated shapes.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import yazl from 'yazl'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const SET = '/tmp/benchsets/twemoji-groups'
const CLASSES = 4
const PER_CLASS = 50
const SIZE = 224

/** `{ "<class>/<file>.jpg": bytes }` of 224-px JPEGs. */
async function images(): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {}
  if (existsSync(SET)) {
    const classes = (await readdir(SET)).sort().slice(0, CLASSES)
    for (const c of classes) {
      const files = (await readdir(path.join(SET, c))).sort().slice(0, PER_CLASS)
      for (const f of files) {
        out[`${c}/${f.replace(/\.png$/, '.jpg')}`] = await sharp(path.join(SET, c, f)).flatten({ background: '#ffffff' }).resize(SIZE, SIZE).jpeg({ quality: 90 }).toBuffer()
      }
    }
    return out
  }
  for (let c = 0; c < CLASSES; c++) {
    for (let i = 0; i < PER_CLASS; i++) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}"><rect width="${SIZE}" height="${SIZE}" fill="rgb(${(i * 37) % 255},${(i * 91) % 255},${(c * 60 + i) % 255})"/><circle cx="${60 + c * 30}" cy="${80 + (i % 40)}" r="${30 + c * 10}" fill="rgb(${c * 70},${200 - c * 40},90)"/></svg>`
      out[`class-${c}/${i}.jpg`] = await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer()
    }
  }
  return out
}

function zip(files: Record<string, Buffer>): Promise<Buffer> {
  const z = new yazl.ZipFile()
  for (const [name, bytes] of Object.entries(files)) z.addBuffer(bytes, name)
  z.end()
  const chunks: Buffer[] = []
  return new Promise((resolve, reject) => {
    z.outputStream.on('data', (c: Buffer) => chunks.push(c))
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)))
    z.outputStream.on('error', reject)
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined) return v
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Upload → job → completed; returns seconds and the job document. */
async function uploadAndTrain(url: string, archive: Buffer): Promise<{ seconds: number; upload: number; job: any }> {
  const t0 = performance.now()
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(archive)]), 'bench.zip')
  const up = await fetch(`${url}/datasets`, { method: 'POST', body: form })
  const dataset = (await up.json()) as any
  if (up.status !== 201) throw new Error(`upload failed: ${up.status} ${JSON.stringify(dataset)}`)
  const upload = (performance.now() - t0) / 1000
  const res = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId: dataset.id, seed: 1 }) })
  const created = (await res.json()) as any
  if (res.status !== 202) throw new Error(`job refused: ${res.status} ${JSON.stringify(created)}`)
  const job = await until('the job', 600_000, async () => {
    const doc = (await (await fetch(`${url}/jobs/${created.id}`)).json()) as any
    if (doc.status === 'failed') throw Object.assign(new Error(`job failed: ${JSON.stringify(doc.error)}`), { fatal: true })
    return doc.status === 'completed' ? doc : undefined
  })
  return { seconds: (performance.now() - t0) / 1000, upload, job }
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-bench-job-'))
const logFile = path.join(dataDir, 'service.log')
const port = await freePort()
const env = {
  ...process.env,
  DATA_DIR: dataDir,
  PORT: String(port),
  QUEUE_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
  LOG_LEVEL: 'info',
}
const { openSync } = await import('node:fs')
const log = openSync(logFile, 'a')
const service = spawn(process.execPath, ['dist/src/main.js'], { cwd: REPO, env, stdio: ['ignore', log, log] })
try {
  const url = `http://127.0.0.1:${port}`
  await until('the service', 60_000, async () => ((await fetch(`${url}/healthz`).then((r) => r.arrayBuffer().then(() => r.ok))) ? true : undefined))
  const files = await images()
  const archive = await zip(files)
  const cold = await uploadAndTrain(url, archive)
  const warm = await uploadAndTrain(url, archive)
  const timings = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"model trained"'))
    .map((l) => JSON.parse(l).timings as Record<string, number>)
  const round = (x: number) => Math.round(x * 100) / 100
  console.log(
    JSON.stringify({
      bench: 'job',
      images: Object.keys(files).length,
      classes: CLASSES,
      size: SIZE,
      archiveBytes: archive.length,
      coldSeconds: round(cold.seconds),
      warmSeconds: round(warm.seconds),
      coldUploadSeconds: round(cold.upload),
      warmUploadSeconds: round(warm.upload),
      coldPhases: timings[0] && Object.fromEntries(Object.entries(timings[0]).map(([k, v]) => [k, round(v)])),
      warmPhases: timings[1] && Object.fromEntries(Object.entries(timings[1]).map(([k, v]) => [k, round(v)])),
      backend: cold.job.result?.backend,
      accuracy: cold.job.result?.metrics?.accuracy,
      cores: os.availableParallelism(),
      loadAverage: os.loadavg().map(round),
    }),
  )
} finally {
  service.kill('SIGTERM')
  await new Promise((r) => service.once('exit', r))
  await copyFile(logFile, path.join(os.tmpdir(), 'imagetune-bench-job.log')) // kept for profiling
  await rm(dataDir, { recursive: true, force: true })
}
