/** The supervised private redis-server: restarted on its append-only file after each death, waiting longer each time. */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'
import { createLogger } from '../src/logger.js'
import { ensureRedis, type RedisHandle } from '../src/redis-server.js'

let dir: string
let handle: RedisHandle | undefined

afterAll(async () => {
  await handle?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

test('a killed redis-server comes back with its data, after a wait that doubles while it keeps dying', async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-redis-'))
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  const url = `redis://127.0.0.1:${port}`
  handle = await ensureRedis(url, dir, createLogger('silent', 'test-redis'))
  expect(handle.started).toBe(true)

  const client = new Redis(url, { maxRetriesPerRequest: null })
  client.on('error', () => undefined) // it reconnects by itself; the outages are the point
  try {
    await client.set('survives', 'yes')
    await new Promise((resolve) => setTimeout(resolve, 1_200)) // appendfsync everysec
    const gaps: number[] = []
    for (let i = 0; i < 3; i++) {
      const pid = handle.pid()!
      const killedAt = Date.now()
      process.kill(pid, 'SIGKILL')
      // Polled finely: waitFor's 250 ms steps would blur the 250 ms difference between the waits.
      while (handle.pid() === undefined || handle.pid() === pid) {
        if (Date.now() - killedAt > 10_000) throw new Error('no new redis-server within 10 s')
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      gaps.push(Date.now() - killedAt)
      expect(await client.get('survives')).toBe('yes')
    }
    console.info(`restart gaps: ${gaps.join(", ")} ms`)
    // 0.25 s, 0.5 s, 1 s waits (plus the spawn): each restart comes later than the one before.
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!)
    expect(gaps[2]!).toBeGreaterThan(gaps[1]!)
    expect(gaps[2]!).toBeGreaterThanOrEqual(1_000)
  } finally {
    client.disconnect()
  }
})
