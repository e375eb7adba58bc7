import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { loadConfig, type Config } from '../../src/config.js'
import { buildApp, type App } from '../../src/http/app.js'
import { createLogger } from '../../src/logger.js'
import { JOB_INDEX_KEY } from '../../src/queue/job-index.js'
import { TRAINING_QUEUE } from '../../src/queue/jobs.js'
import { WEBHOOK_QUEUE } from '../../src/queue/webhooks.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/**
 * A built entry point in dist/ (e.g. `workers/train-worker.js`): tests that start a separate process run what
 * production runs. `npm test` builds first; a single test file run on its own needs `npm run build` after edits.
 */
export function builtEntry(file: string): string {
  const built = path.join(REPO, 'dist', file)
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`)
  return built
}

/** A config of our own per test file: its own DATA_DIR and queue prefix on the shared real Redis. */
export async function testConfig(overrides: Record<string, string> = {}): Promise<Config> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-test-'))
  return loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    LOG_LEVEL: 'warn',
    IMAGETUNE_BACKEND: 'wasm',
    PORT: '0',
    ...overrides,
  })
}

export interface TestService {
  app: App
  config: Config
  /** `http://127.0.0.1:PORT` of the listening API. */
  url: string
  close(): Promise<void>
}

/** The real API on a real port, against real Redis. `close` obliterates the queue and removes DATA_DIR. */
export async function startTestService(overrides: Record<string, string> = {}): Promise<TestService> {
  const config = await testConfig(overrides)
  const app = await buildApp(config, createLogger(config.LOG_LEVEL, 'test-api'))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    app,
    config,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await app.close()
      await obliterate(config)
      await rm(config.DATA_DIR, { recursive: true, force: true })
    },
  }
}

export async function obliterate(config: Config): Promise<void> {
  const queue = new Queue(TRAINING_QUEUE, { connection: { url: config.REDIS_URL }, prefix: config.QUEUE_PREFIX })
  await queue.obliterate({ force: true })
  const indexKey = queue.toKey(JOB_INDEX_KEY)
  await queue.close()
  const webhooks = new Queue(WEBHOOK_QUEUE, { connection: { url: config.REDIS_URL }, prefix: config.QUEUE_PREFIX })
  await webhooks.obliterate({ force: true })
  await webhooks.close()
  // The job indexes (src/queue/job-index.ts: default's and one per project), the project registry and audit trails
  // (src/services/projects.ts) are ours, not BullMQ's, so obliterate leaves them.
  const redis = new Redis(config.REDIS_URL)
  const ours = [...(await redis.keys(`${indexKey}*`)), ...(await redis.keys(`${config.QUEUE_PREFIX}:projects:*`))]
  if (ours.length > 0) await redis.del(...ours)
  redis.disconnect()
}

export interface WorkerProcess {
  child: ChildProcess
  /** Sends `signal` and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Starts `npm run worker`'s built entry as a separate process with the test's config, the way a second machine
 * would run it. Its log goes to `<DATA_DIR>/worker-N.log` for post-mortems.
 */
export function startWorkerProcess(config: Config, name = 'worker'): WorkerProcess {
  const env = { ...process.env, ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)])), LOG_LEVEL: 'info' }
  const child = spawn(process.execPath, [builtEntry('workers/train-worker.js')], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = createWriteStream(path.join(config.DATA_DIR, `${name}.log`))
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  return {
    child,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode)
        child.once('exit', (code) => resolve(code))
        child.kill(signal)
      }),
  }
}

/** Whether a job document has ended: completed or failed. */
export const jobEnded = (doc: { status: string }): boolean => doc.status === 'completed' || doc.status === 'failed'

/**
 * Polls `GET <base>/jobs/<id>` (with `key` as a Bearer token when given) until `ok` holds for the job document, and
 * returns that document.
 */
export function untilJob(base: string, id: string, what: string, opts: { ok?: (doc: any) => boolean; timeoutMs?: number; key?: string } = {}): Promise<any> {
  const { ok = jobEnded, timeoutMs = 60_000, key } = opts
  return waitFor(async () => {
    const response = await fetch(`${base}/jobs/${id}`, key ? { headers: { authorization: `Bearer ${key}` } } : {})
    const doc = (await response.json()) as any
    return ok(doc) ? doc : undefined
  }, timeoutMs, what)
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs` with the last value seen. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
