/**
 * bench/job: wall time from upload to a registered model, 4 classes × 50 images at 224 px, on one bundled base,
 * through the real service (`src/main.ts`: API + worker + sandboxed processor, Redis at REDIS_URL or started by it).
 *   cold: a fresh DATA_DIR (base not yet extracted, empty feature cache), service already up
 *   warm: the same images uploaded again as a new dataset (every feature cached), same service
 *   torch: the PyTorch script doing the same new-set job on all cores, run right after on the same files: PIL
 *     decode, resize + centre crop to the base's side, torchvision's partner architecture (random weights: speed
 *     only) `features` + mean pool, then the same head (Dense 128 ReLU → softmax, Adam 1e-3, 20 epochs, batch 32)
 *     on an 80/20 split. mobilenet_v2 ↔ mobilenet_v2 at 224 px; mobilenet_v3_coco ↔ mobilenet_v3_large at 320 px.
 * Prints ONE JSON line; the worker's phase timings come from its log, kept as $TMPDIR/imagetune-bench-job.log.
 * Run: `npx tsx bench/job.ts [BASE]` (default mobilenet_v2). Images: the twemoji-groups bench set
 * (make-bench-sets.sh) when present, else generated shapes.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import yazl from 'yazl'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const SET = ['/tmp/bench-sets/twemoji-groups', '/tmp/benchsets/twemoji-groups'].find((d) => existsSync(d)) ?? ''
const BASE = process.argv[2] ?? 'mobilenet_v2'
const PARTNERS: Record<string, { arch: string; size: number }> = {
  mobilenet_v2: { arch: 'mobilenet_v2', size: 224 },
  mobilenet_v3_coco: { arch: 'mobilenet_v3_large', size: 320 },
}
const PARTNER = PARTNERS[BASE] ?? (() => {
  throw new Error(`no PyTorch partner for '${BASE}': use ${Object.keys(PARTNERS).join(' or ')}`)
})()
/** Debian's interpreter, where apt's python3-torch lives (bench/features installs it when missing). */
const PYTHON = '/usr/bin/python3'

/** The same new-set job in PyTorch: embed every image once, then train the head on the features. */
const TORCH_JOB = String.raw`
import json, sys, time, random
import torch, torchvision
from PIL import Image
from torchvision import transforms
files, labels, arch, size, threads = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)  # its default here is 1, not the cores
torch.manual_seed(1); random.seed(1)
t0 = time.perf_counter()
model = getattr(torchvision.models, arch)(weights=None).eval()
prep = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
feats = []
with torch.no_grad():
    for i in range(0, len(files), 32):
        x = torch.stack([prep(Image.open(f).convert('RGB')) for f in files[i:i + 32]])
        feats.append(model.features(x).mean([2, 3]))
x = torch.cat(feats); y = torch.tensor(labels)
t1 = time.perf_counter()
order = list(range(len(files))); random.shuffle(order); cut = int(0.8 * len(order))
tr, va = torch.tensor(order[:cut]), torch.tensor(order[cut:])
head = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(128, max(labels) + 1))
opt = torch.optim.Adam(head.parameters(), 1e-3)
for epoch in range(20):
    head.train()
    for b in tr[torch.randperm(len(tr))].split(32):
        opt.zero_grad(); torch.nn.functional.cross_entropy(head(x[b]), y[b]).backward(); opt.step()
head.eval()
with torch.no_grad():
    acc = (head(x[va]).argmax(1) == y[va]).float().mean().item()
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "extractSeconds": t1 - t0, "trainSeconds": t2 - t1, "accuracy": acc, "torch": torch.__version__, "threads": torch.get_num_threads()}))
`
const CLASSES = 4
const PER_CLASS = 50
const SIZE = 224

/** `{ "<class>/<file>.jpg": bytes }` of 224-px JPEGs. */
async function images(): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {}
  if (SET) {
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
  const res = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId: dataset.id, seed: 1, baseModel: BASE }) })
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
const service = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO, env, stdio: ['ignore', log, log] })
try {
  const url = `http://127.0.0.1:${port}`
  await until('the service', 60_000, async () => ((await fetch(`${url}/healthz`).then((r) => r.arrayBuffer().then(() => r.ok))) ? true : undefined))
  const files = await images()
  const archive = await zip(files)
  const cold = await uploadAndTrain(url, archive)
  const warm = await uploadAndTrain(url, archive)
  // The partner reads the very files that were uploaded, after our runs (the service idles meanwhile).
  const torchDir = path.join(dataDir, 'torch-images')
  const names = Object.keys(files)
  const classNames = [...new Set(names.map((n) => n.split('/')[0]!))].sort()
  await mkdir(torchDir, { recursive: true })
  const torchFiles = await Promise.all(
    names.map(async (n, i) => {
      const file = path.join(torchDir, `${i}.jpg`)
      await writeFile(file, files[n]!)
      return file
    }),
  )
  const torchLabels = names.map((n) => classNames.indexOf(n.split('/')[0]!))
  const torchRun = JSON.parse(
    execFileSync(PYTHON, ['-c', TORCH_JOB, JSON.stringify(torchFiles), JSON.stringify(torchLabels), PARTNER.arch, String(PARTNER.size), String(os.availableParallelism())], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split('\n')
      .pop()!,
  ) as { seconds: number; extractSeconds: number; trainSeconds: number; accuracy: number; torch: string; threads: number }
  const timings = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"model trained"'))
    .map((l) => JSON.parse(l).timings as Record<string, number>)
  const round = (x: number) => Math.round(x * 100) / 100
  console.log(
    JSON.stringify({
      bench: 'job',
      base: BASE,
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
      torch: { ...Object.fromEntries(Object.entries(torchRun).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v])), arch: PARTNER.arch, size: PARTNER.size, weights: 'random (speed only)' },
      coldVsTorch: round(torchRun.seconds / cold.seconds),
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
