/**
 * A training job outlives the worker that runs it, on default settings: a worker killed with SIGKILL loses its job to
 * another worker within a minute, and a worker whose sandbox is alive but stuck loses it too (the heartbeat).
 */
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, startWorkerProcess, jobEnded, untilJob as untilJobAt, waitFor, type TestService, type WorkerProcess } from '../helpers/service.js'
import { writeTinyBase } from '../helpers/tiny-base.js'

/** Many epochs of batch size 1 on a dozen images: long enough to interrupt. The base is tiny: it is not the point. */
const LONG_JOB = { epochs: 60, batchSize: 1, seed: 5 }
/** The bound: on defaults another worker runs a SIGKILLed worker's job within this, ms. */
const RECOVERY_BOUND_MS = 60_000

let service: TestService
let datasetId: string
let baseUrl: string
const workers: WorkerProcess[] = []

beforeAll(async () => {
  service = await startTestService() // TRAIN_LOCK_MS and the stall check on their defaults
  baseUrl = await writeTinyBase(path.join(service.config.DATA_DIR, 'tiny-base'), { size: 32, headUnits: 4 })
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip(await makeImageFolder({ red: 6, blue: 6 }, { size: 32 })))]), 'small.zip')
  const response = await fetch(`${service.url}/datasets`, { method: 'POST', body: form })
  expect(response.status).toBe(201)
  datasetId = ((await response.json()) as { id: string }).id
})

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')))
})

afterAll(async () => {
  await service?.close()
})

function startWorker(name: string, overrides: Record<string, number> = {}) {
  const worker = startWorkerProcess({ ...service.config, ...overrides }, name)
  workers.push(worker)
  return Object.assign(worker, { name: `${hostname()}:${worker.child.pid}` })
}

async function postJob(epochs = LONG_JOB.epochs): Promise<{ id: string }> {
  const body = { datasetId, baseModel: { url: baseUrl }, ...LONG_JOB, epochs }
  const response = await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  expect(response.status).toBe(202)
  return (await response.json()) as { id: string }
}

const untilJob = (id: string, what: string, ok: (doc: any) => boolean, timeoutMs: number) => untilJobAt(service.url, id, what, { ok, timeoutMs })

/** The process ids a process has forked (Linux). */
function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]?.startsWith('Z')
  } catch {
    return false
  }
}

test('on default settings a SIGKILLed worker\'s job runs again on another worker within 60 s', async () => {
  expect(service.config.TRAIN_LOCK_MS).toBe(30_000)
  const first = startWorker('killed-worker')
  const second = startWorker('idle-worker')
  const job = await postJob()
  await untilJob(job.id, 'training on the first worker', (d) => d.status === 'active' && d.progress.epoch >= 2, 60_000)
  const { worker: runner } = await untilJob(job.id, 'the runner', (d) => d.worker, 1_000)
  const [victim, rescuer] = runner === first.name ? [first, second] : [second, first]
  const killedAt = Date.now()
  expect(await victim.stop('SIGKILL')).toBeNull()

  await untilJob(job.id, 'the job to run on the other worker', (d) => d.status === 'active' && d.worker === rescuer.name, RECOVERY_BOUND_MS)
  const recoveryMs = Date.now() - killedAt
  console.info(`SIGKILL → job active on the other worker: ${(recoveryMs / 1000).toFixed(1)} s (TRAIN_LOCK_MS ${service.config.TRAIN_LOCK_MS})`)
  expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS)
}, 150_000)

test('a sandbox that is alive but stuck (SIGSTOP) is killed by the heartbeat watchdog and its job completes', async () => {
  const worker = startWorker('stuck-worker', { TRAIN_HEARTBEAT_TIMEOUT_MS: 3_000 })
  const job = await postJob(12) // only long enough to stop it mid-way: the retry trains the rest
  await untilJob(job.id, 'training', (d) => d.status === 'active' && d.progress.epoch >= 2, 60_000)
  const [sandbox] = childPids(worker.child.pid!)
  expect(sandbox).toBeDefined()
  process.kill(sandbox!, 'SIGSTOP') // alive, holds its job, does nothing: the worker's main process still renews the lock
  const stoppedAt = Date.now()

  await waitFor(async () => (alive(sandbox!) ? undefined : true), 15_000, 'the stuck sandbox to be killed')
  console.info(`stuck sandbox killed after ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s (heartbeat timeout 3 s)`)
  const done = await untilJob(job.id, 'the job to finish', jobEnded, 60_000)
  expect(done).toMatchObject({ status: 'completed', worker: worker.name })
  // Stopped while epoch ≥ 2 ran, so at least epoch 1 was checkpointed: the retry resumes, it does not start over.
  expect(done.progress.resumedFromEpoch).toBeGreaterThanOrEqual(1)
}, 150_000)
