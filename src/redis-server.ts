import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { Redis } from 'ioredis'
import type { Logger } from './logger.js'

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])
const START_TIMEOUT_MS = 10_000
/** First wait before restarting a private redis-server that died, ms; doubled per exit in a row, up to the max. */
const RESTART_BACKOFF_MS = 250
const RESTART_BACKOFF_MAX_MS = 10_000
/** A redis-server up this long counts as healthy again: its next exit restarts after the first wait, ms. */
const STABLE_AFTER_MS = 30_000

/** A Redis this process started (and must stop), or one that was already there. */
export interface RedisHandle {
  started: boolean
  /** Process id of the private redis-server now running; undefined when none is (or it is not ours). */
  pid(): number | undefined
  stop(): Promise<void>
}

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError'
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => undefined)
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

/**
 * Makes sure a Redis answers at `url`. When none does and the URL is local, starts a private `redis-server`
 * child with its data (append-only file, so queued jobs survive a restart) under `dir`.
 */
export async function ensureRedis(url: string, dir: string, log: Logger): Promise<RedisHandle> {
  if (await answers(url)) return { started: false, pid: () => undefined, stop: async () => undefined }
  const target = new URL(url)
  if (!LOCAL_HOSTS.has(target.hostname)) throw new RedisUnavailableError(`no Redis answers at ${url}`)
  if (spawnSync('redis-server', ['--version']).error) {
    throw new RedisUnavailableError(
      `no Redis answers at ${url} and redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server) or point REDIS_URL at a running Redis`,
    )
  }
  await mkdir(dir, { recursive: true })
  const port = target.port || '6379'
  const spawnServer = (): ChildProcess =>
    spawn('redis-server', ['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no'], { stdio: 'ignore' })
  const first = spawnServer()
  log.info({ pid: first.pid, port, dir }, 'started a private redis-server')
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await answers(url))) {
    if (first.exitCode !== null || Date.now() > deadline) {
      first.kill('SIGKILL')
      throw new RedisUnavailableError(`redis-server did not start on port ${port} (exit code ${first.exitCode})`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return supervise(first, spawnServer, log)
}

/**
 * Keeps the private redis-server running: one that exits (killed, OOM) is started again on its append-only file, so
 * queued and running jobs carry on, after a wait that doubles while it keeps dying. Clients reconnect by themselves.
 */
function supervise(first: ChildProcess, spawnServer: () => ChildProcess, log: Logger): RedisHandle {
  let child = first
  let startedAt = Date.now()
  let failures = 0
  let stopping = false
  let restart: NodeJS.Timeout | undefined

  const watch = (server: ChildProcess) => {
    server.once('exit', (code, signal) => {
      if (stopping) return
      if (Date.now() - startedAt >= STABLE_AFTER_MS) failures = 0
      const waitMs = Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MS * 2 ** failures)
      failures += 1
      log.error({ pid: server.pid, code, signal, restartInMs: waitMs }, 'the private redis-server exited; restarting it on its append-only file')
      restart = setTimeout(() => {
        restart = undefined
        child = spawnServer()
        startedAt = Date.now()
        child.once('error', (err) => log.error({ err }, 'could not start redis-server'))
        log.info({ pid: child.pid }, 'restarted the private redis-server')
        watch(child)
      }, waitMs)
    })
  }
  watch(first)

  return {
    started: true,
    pid: () => (child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true
        clearTimeout(restart)
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}
