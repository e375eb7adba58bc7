import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { Redis } from 'ioredis'
import type { Logger } from './logger.js'

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])
const START_TIMEOUT_MS = 10_000

/** A Redis this process started (and must stop), or one that was already there. */
export interface RedisHandle {
  started: boolean
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
  if (await answers(url)) return { started: false, stop: async () => undefined }
  const target = new URL(url)
  if (!LOCAL_HOSTS.has(target.hostname)) throw new RedisUnavailableError(`no Redis answers at ${url}`)
  if (spawnSync('redis-server', ['--version']).error) {
    throw new RedisUnavailableError(
      `no Redis answers at ${url} and redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server) or point REDIS_URL at a running Redis`,
    )
  }
  await mkdir(dir, { recursive: true })
  const port = target.port || '6379'
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no'],
    { stdio: 'ignore' },
  )
  log.info({ pid: child.pid, port, dir }, 'started a private redis-server')
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new RedisUnavailableError(`redis-server did not start on port ${port} (exit code ${child.exitCode})`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    started: true,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}
