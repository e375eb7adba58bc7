/**
 * Cost of crash-resume checkpoints: trains the same head (1280-d features like MobileNetV2's, 500 examples, 5
 * classes, hidden 128) with and without a checkpoint written after every epoch, and times a checkpoint load.
 * `npx tsx bench/checkpoint.ts` prints JSON.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { initBackend } from '../src/ml/backend.js'
import { seededRandom } from '../src/ml/random.js'
import { trainHead, type TrainHeadOptions } from '../src/ml/train.js'
import { decodeCheckpoint, encodeCheckpoint } from '../src/ml/checkpoint-codec.js'
import { createCheckpointStore } from '../src/storage/checkpoints.js'

const N = 500
const D = 1280
const CLASSES = 5
const EPOCHS = 20

const backend = await initBackend('wasm')
const random = seededRandom(1)
const labels = Array.from({ length: N }, (_, i) => i % CLASSES)
const features = labels.map((l) => Float32Array.from({ length: D }, (_, j) => (j % CLASSES === l ? 1 : 0) + random()))
const opts: TrainHeadOptions = { epochs: EPOCHS, batchSize: 32, learningRate: 0.001, seed: 1 }

async function run(checkpoint: boolean): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'imagetune-bench-'))
  const store = createCheckpointStore(dir)
  const started = performance.now()
  const { head } = await trainHead(features, labels, CLASSES, { ...opts, ...(checkpoint && { onCheckpoint: (s) => store.save('job', encodeCheckpoint('model', s)) }) })
  const seconds = (performance.now() - started) / 1000
  head.dispose()
  if (checkpoint) {
    const file = path.join(dir, 'job', 'checkpoint', 'head.bin')
    bytes = (await stat(file)).size
    const t = performance.now()
    decodeCheckpoint(await store.load('job'), 'model')
    loadMs = performance.now() - t
  }
  await rm(dir, { recursive: true, force: true })
  return seconds
}

let bytes = 0
let loadMs = 0
await run(false) // warm-up
const without = await run(false)
const withCheckpoints = await run(true)
console.log(
  JSON.stringify({
    backend: backend.name,
    examples: N,
    featureSize: D,
    epochs: EPOCHS,
    trainSecondsWithout: +without.toFixed(2),
    trainSecondsWithCheckpoints: +withCheckpoints.toFixed(2),
    checkpointMsPerEpoch: +(((withCheckpoints - without) * 1000) / EPOCHS).toFixed(1),
    checkpointBytes: bytes,
    loadMs: +loadMs.toFixed(1),
  }),
)
