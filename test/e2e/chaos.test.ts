/**
 * Chaos: 10 jobs, 2 standalone worker processes, one of them killed with SIGKILL twice at random epochs (and started
 * again each time), and the private Redis (its own redis-server with an append-only file, supervised as `npm start`
 * does) killed once. Every job completes, exactly once: 10 models, each job listed once, no job folder left.
 * Real processes, real tfjs, a tiny base and tiny images to stay near a minute.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import os from 'node:os'
import path from 'node:path'
import { createLogger } from '../../src/logger.js'
import { seededRandom } from '../../src/ml/random.js'
import { ensureRedis, type RedisHandle } from '../../src/redis-server.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'
import { writeTinyBase } from '../helpers/tiny-base.js'
import { freePort } from '../helpers/net.js'

const JOBS = 10
const EPOCHS = 8
/** Fixed, so a failing run can be replayed; the epochs at which the worker dies come from it. */
const SEED = 1313

let redisDir: string
let redis: RedisHandle | undefined
let service: TestService | undefined
const workers: WorkerProcess[] = []

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')))
  await service?.close()
  await redis?.stop()
  if (redisDir) await rm(redisDir, { recursive: true, force: true })
})

test('10 jobs survive two SIGKILLed workers and a killed Redis: 10 models, each job listed once, no job folder left', async () => {
  const random = seededRandom(SEED)
  redisDir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-chaos-redis-'))
  const redisUrl = `redis://127.0.0.1:${await freePort()}`
  redis = await ensureRedis(redisUrl, redisDir, createLogger('warn', 'chaos-redis'))
  expect(redis.started).toBe(true)
  // A short lock: each killed worker's job is recovered in seconds, not the default 45.
  service = await startTestService({ REDIS_URL: redisUrl, TRAIN_LOCK_MS: '5000' })
  const { url, config } = service

  const base = await writeTinyBase(path.join(config.DATA_DIR, 'tiny-base'), { size: 32, headUnits: 4 })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ red: 6, blue: 6 }, { size: 32 })))]), 'set.zip')
  const { id: datasetId } = (await (await fetch(`${url}/datasets`, { method: 'POST', body: form })).json()) as { id: string }
  const jobIds: string[] = []
  for (let i = 0; i < JOBS; i++) {
    const response = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ datasetId, baseModel: { url: base }, epochs: EPOCHS, batchSize: 1, seed: i }),
    })
    expect(response.status).toBe(202)
    jobIds.push(((await response.json()) as { id: string }).id)
  }

  const start = (name: string) => {
    const worker = startWorkerProcess(config, name)
    workers.push(worker)
    return Object.assign(worker, { name: `${hostname()}:${worker.child.pid}` })
  }
  /** Job documents; undefined while Redis is down (the API answers 503 then). */
  const jobs = async () => {
    const response = await fetch(`${url}/jobs?limit=500`).catch(() => undefined)
    return response?.ok ? (((await response.json()) as { jobs: any[] }).jobs) : undefined
  }
  const trainingOn = (worker: { name: string }, epoch: number) =>
    waitFor(async () => (await jobs())?.find((j) => j.status === 'active' && j.worker === worker.name && j.progress.epoch >= epoch), 60_000, `${worker.name} to reach epoch ${epoch}`)

  start('steady')
  let victim = start('victim-1')
  for (const round of [1, 2]) {
    const epoch = 1 + Math.floor(random() * (EPOCHS - 2))
    const job = await trainingOn(victim, epoch)
    expect(await victim.stop('SIGKILL')).toBeNull()
    console.info(`chaos: SIGKILL ${victim.name} on job ${job.id} at epoch ${job.progress.epoch}`)
    if (round === 1) {
      process.kill(redis.pid()!, 'SIGKILL')
      console.info('chaos: SIGKILL the private redis-server')
      await waitFor(async () => (redis!.pid() ? true : undefined), 15_000, 'redis-server to be restarted')
    }
    victim = start(`victim-${round + 1}`)
  }

  const done = await waitFor(async () => {
    const all = await jobs()
    return all && all.length >= JOBS && all.every((j) => j.status === 'completed' || j.status === 'failed') ? all : undefined
  }, 120_000, 'every job to finish')
  expect(done.filter((j) => j.status !== 'completed').map((j) => [j.id, j.error])).toEqual([])
  expect(done.map((j) => j.id).sort()).toEqual([...jobIds].sort()) // each listed once
  const models = (await (await fetch(`${url}/models`)).json()) as { models: { id: string; jobId: string }[] }
  expect(models.models.map((m) => m.jobId).sort()).toEqual([...jobIds].sort())
  expect((await readdir(path.join(config.DATA_DIR, 'models'))).filter((f) => !f.endsWith('.json')).sort()).toEqual(done.map((j) => j.result.modelId).sort())
  const jobsDir = path.join(config.DATA_DIR, 'jobs')
  await waitFor(async () => (!existsSync(jobsDir) || (await readdir(jobsDir)).length === 0 ? true : undefined), 10_000, 'every job folder to go')
}, 240_000)
