/**
 * bench/features: images/s of our feature extraction for one bundled base (decode with sharp + the base's trunk on
 * the feature pool, as a job runs it, cache writes included) against its PyTorch partner at the same resolution
 * (torchvision, random weights: speed only; PIL decode + resize + crop, `model.features` + global average pool, all
 * cores) on the same images at the same batch size, alternating twice so both see the same machine load: all cores
 * on each side, then one thread on each side (our job thread alone against `torch.set_num_threads(1)`).
 *   mobilenet_v2 (default): fused MobileNetV2 trunk at 224 px vs torchvision mobilenet_v2 at 224 px
 *   mobilenet_v3_coco: the COCO MobileNetV3 graph to its backbone node at 320 px vs torchvision mobilenet_v3_large at 320 px
 * Prints ONE JSON line. Run: `npx tsx bench/features.ts [BASE]`. Installs python3-torch + python3-torchvision with
 * apt-get when missing (a large download, once). Images: the twemoji-groups bench set when present, else generated.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { initBackend } from '../src/ml/backend.js'
import { loadBase, type BuiltinBaseId } from '../src/ml/bases.js'
import { createFeaturePool } from '../src/ml/feature-pool.js'
import { extractFeatures } from '../src/ml/features.js'
import { createFeatureCache } from '../src/storage/features.js'

const SET = ['/tmp/bench-sets/twemoji-groups', '/tmp/benchsets/twemoji-groups'].find((d) => existsSync(d)) ?? ''
const BASE = (process.argv[2] ?? 'mobilenet_v2') as BuiltinBaseId
/** The torchvision architecture and input side each of our bases is timed against. */
const PARTNERS: Partial<Record<BuiltinBaseId, { arch: string; size: number }>> = {
  mobilenet_v2: { arch: 'mobilenet_v2', size: 224 },
  mobilenet_v3_coco: { arch: 'mobilenet_v3_large', size: 320 },
}
const PARTNER = PARTNERS[BASE] ?? (() => {
  throw new Error(`no PyTorch partner for '${BASE}': use ${Object.keys(PARTNERS).join(' or ')}`)
})()
const IMAGES = 128
const BATCH = 32
const ROUNDS = 2
/** Debian's interpreter, the one apt's python3-torch installs into (a pyenv `python3` on PATH would not see it). */
const PYTHON = '/usr/bin/python3'

const TORCH_SCRIPT = String.raw`
import json, os, sys, time
import torch, torchvision
from PIL import Image
from torchvision import transforms
files, batch, threads, arch, size = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
torch.set_num_threads(threads)
model = getattr(torchvision.models, arch)(weights=None).eval()
prep = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
def embed(x):
    return model.features(x).mean([2, 3])
with torch.no_grad():
    embed(torch.zeros(batch, 3, size, size))  # warm-up
    t = time.perf_counter()
    for i in range(0, len(files), batch):
        x = torch.stack([prep(Image.open(f).convert('RGB')) for f in files[i:i + batch]])
        out = embed(x).numpy()
    seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "dim": int(out.shape[1]), "torch": torch.__version__, "threads": torch.get_num_threads()}))
`

function ensureTorch(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' })
  if (probe.status === 0) return
  const sudo = process.getuid?.() === 0 ? [] : ['sudo']
  const run = (args: string[]) => execFileSync(sudo.length ? 'sudo' : args[0]!, sudo.length ? args : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  process.stderr.write('installing python3-torch and python3-torchvision (once)...\n')
  run(['apt-get', 'update'])
  run(['apt-get', 'install', '-y', '--no-install-recommends', 'python3-torch', 'python3-torchvision'])
}

/** Image files for both sides: the bench set's PNGs, or generated JPEGs in `tmp`. */
async function imageFiles(tmp: string): Promise<string[]> {
  if (SET) {
    const files: string[] = []
    for (const c of (await readdir(SET)).sort()) for (const f of (await readdir(path.join(SET, c))).sort()) files.push(path.join(SET, c, f))
    if (files.length >= IMAGES) return files.slice(0, IMAGES)
  }
  return Promise.all(
    Array.from({ length: IMAGES }, async (_, i) => {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240"><rect width="320" height="240" fill="rgb(${(i * 37) % 255},${(i * 91) % 255},120)"/><circle cx="${100 + (i % 90)}" cy="120" r="${40 + (i % 50)}" fill="rgb(${(i * 13) % 255},200,90)"/></svg>`
      const file = path.join(tmp, `${i}.jpg`)
      await writeFile(file, await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer())
      return file
    }),
  )
}

ensureTorch()
const tmp = await mkdtemp(path.join(os.tmpdir(), 'imagetune-bench-features-'))
try {
  const files = await imageFiles(tmp)
  const bytes = await Promise.all(files.map((f) => readFile(f)))
  const backend = await initBackend('wasm')
  const basesDir = path.join(tmp, 'bases')
  const base = await loadBase(BASE, basesDir)
  const pool = await createFeaturePool({ base: BASE, basesDir })

  /** One pass over every image with an empty cache, as a cold job extracts: on the pool, or on this thread alone. */
  let pass = 0
  const oursPass = async (threaded: boolean) => {
    const cache = createFeatureCache(path.join(tmp, `cache-${pass++}`))
    const items = bytes.map((b) => ({ key: createHash('sha256').update(b).digest('hex'), read: async () => b }))
    const t = performance.now()
    await extractFeatures(base, items, { cache, maxPixels: 50_000_000, batchSize: BATCH, ...(threaded ? { embed: pool.embed } : {}) })
    return (performance.now() - t) / 1000
  }
  const torch = (threads: number) => {
    const out = execFileSync(PYTHON, ['-c', TORCH_SCRIPT, JSON.stringify(files), String(BATCH), String(threads), PARTNER.arch, String(PARTNER.size)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    return JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; dim: number; torch: string; threads: number }
  }

  await pool.embed((await Promise.all(bytes.slice(0, BATCH).map((b) => sharp(b).resize(base.inputSize, base.inputSize).removeAlpha().raw().toBuffer()))).map((b) => new Uint8Array(b))) // warm-up: heaps grown
  // All cores each side, then one thread each side (per-core speed: less skewed by other load on the machine).
  const rounds: { ours: number; torch: number; ours1: number; torch1: number }[] = []
  let torchInfo: ReturnType<typeof torch> | undefined
  for (let r = 0; r < ROUNDS; r++) {
    torchInfo = torch(os.availableParallelism())
    const ours = IMAGES / (await oursPass(true))
    const torch1 = IMAGES / torch(1).seconds
    const ours1 = IMAGES / (await oursPass(false))
    rounds.push({ ours, torch: IMAGES / torchInfo.seconds, ours1, torch1 })
  }
  await pool.close()
  base.dispose()
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  const round = (x: number) => Math.round(x * 100) / 100
  const oursRate = mean(rounds.map((r) => r.ours))
  const torchRate = mean(rounds.map((r) => r.torch))
  const ours1 = mean(rounds.map((r) => r.ours1))
  const torch1 = mean(rounds.map((r) => r.torch1))
  console.log(
    JSON.stringify({
      bench: 'features',
      base: BASE,
      inputSize: base.inputSize,
      images: IMAGES,
      batchSize: BATCH,
      oursImagesPerSecond: round(oursRate),
      torchImagesPerSecond: round(torchRate),
      ratio: round(oursRate / torchRate),
      oneThread: { oursImagesPerSecond: round(ours1), torchImagesPerSecond: round(torch1), ratio: round(ours1 / torch1) },
      rounds: rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)]))),
      ours: { backend: backend.reason, threads: pool.threads },
      torch: { version: torchInfo?.torch, threads: torchInfo?.threads, arch: PARTNER.arch, size: PARTNER.size, weights: 'random (speed only)' },
      cores: os.availableParallelism(),
      loadAverage: os.loadavg().map(round),
    }),
  )
} finally {
  await rm(tmp, { recursive: true, force: true })
}
