/**
 * `npm start`'s private redis-server is supervised: killed with SIGKILL mid-job, it is started again on its
 * append-only file, the API is ready again within 20 s, the running job completes, and no ioredis client is left
 * without an error handler ("[ioredis] Unhandled error event").
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { waitFor } from '../helpers/service.js'
import { writeTinyBase } from '../helpers/tiny-base.js'
import { freePort } from '../helpers/net.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
/** The bound: the service is ready again this soon after its Redis died, ms. */
const READY_AGAIN_MS = 20_000

let dataDir: string
let main: ChildProcess | undefined
let output = ''

/** The redis-server among a process's children (Linux). */
function redisChild(pid: number): number | undefined {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  return children.find((child) => {
    try {
      return readFileSync(`/proc/${child}/comm`, 'utf8').trim().startsWith('redis-server')
    } catch {
      return false
    }
  })
}

afterAll(async () => {
  if (main && main.exitCode === null) {
    const exited = new Promise((resolve) => main!.once('exit', resolve))
    main.kill('SIGTERM')
    await exited
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

test('the private redis-server is restarted after SIGKILL: ready again within 20 s, the running job completes, no unhandled ioredis errors', async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-embedded-'))
  const [redisPort, apiPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${apiPort}`
  main = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO,
    env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATA_DIR: dataDir, PORT: String(apiPort), IMAGETUNE_BACKEND: 'wasm', EXTRACT_THREADS: '1', PREDICT_THREADS: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  main.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  main.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const ready = async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200
  await waitFor(async () => ((await ready()) ? true : undefined), 60_000, 'npm start to be ready')
  const redisPid = redisChild(main.pid!)
  expect(redisPid).toBeDefined()

  const base = await writeTinyBase(path.join(dataDir, 'tiny-base'), { size: 32, headUnits: 4 })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ red: 6, blue: 6 }, { size: 32 })))]), 'set.zip')
  const dataset = (await (await fetch(`${url}/datasets`, { method: 'POST', body: form })).json()) as { id: string }
  const posted = await fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ datasetId: dataset.id, baseModel: { url: base }, epochs: 60, batchSize: 1, seed: 1 }),
  })
  expect(posted.status).toBe(202)
  const job = (await posted.json()) as { id: string }
  const getJob = async () => (await (await fetch(`${url}/jobs/${job.id}`)).json()) as any
  await waitFor(async () => ((await getJob()).progress.epoch >= 2 ? true : undefined), 60_000, 'the job to train')

  await new Promise((resolve) => setTimeout(resolve, 1_200)) // appendfsync everysec: the AOF holds the last second
  process.kill(redisPid!, 'SIGKILL')
  const killedAt = Date.now()
  await waitFor(async () => ((await fetch(`${url}/readyz`)).status === 503 ? true : undefined), 5_000, '/readyz to notice')
  await waitFor(async () => ((await ready()) ? true : undefined), READY_AGAIN_MS, '/readyz to answer 200 again')
  const readyAfterMs = Date.now() - killedAt
  console.info(`redis-server SIGKILLed → /readyz 200 again after ${(readyAfterMs / 1000).toFixed(1)} s`)
  expect(redisChild(main.pid!)).not.toBe(redisPid)

  const done = await waitFor(async () => {
    const doc = await getJob()
    return doc.status === 'completed' || doc.status === 'failed' ? doc : undefined
  }, 90_000, 'the job to finish')
  expect(done.error).toBeUndefined()
  expect(done.status).toBe('completed')
  expect(output).toContain('restarting it on its append-only file')
  expect(output).not.toContain('Unhandled error event')
}, 200_000)
