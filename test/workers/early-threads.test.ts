/**
 * early-threads.ts starts the default base's extraction threads as the processor module begins to evaluate, from
 * the environment alone, and hands them over once.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DEFAULT_BASE_MODEL } from '../../src/contract/jobs.js'

let dataDir: string

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'imagetune-early-'))
})

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

test('with pre-warm on wasm and two threads, importing the module starts them; they are taken once and embed', async () => {
  // The sandboxed child gets its config through its environment, as here.
  Object.assign(process.env, { DATA_DIR: dataDir, WORKER_PREWARM: 'true', EXTRACT_THREADS: '2', IMAGETUNE_BACKEND: 'wasm' })
  const { takeEarlyThreads } = await import('../../workers/processors/early-threads.js')
  const early = takeEarlyThreads()
  expect(early).toMatchObject({ base: DEFAULT_BASE_MODEL, threads: 2 })
  expect(takeEarlyThreads()).toBeUndefined()
  const pool = await early!.pool
  try {
    expect(pool.threads).toBe(2)
    const side = 320 // the default base's input
    const features = await pool.embed([new Uint8Array(side * side * 3).fill(128), new Uint8Array(side * side * 3).fill(30)])
    expect(features).toHaveLength(2 * 480)
    expect(features.every(Number.isFinite)).toBe(true)
  } finally {
    await pool.close()
  }
}, 120_000)
