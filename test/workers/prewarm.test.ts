/**
 * Pre-warm: a worker process (the build, as production runs it) forks its sandboxed child as it starts, and the
 * child loads the default base and its extraction threads before any job arrives: it logs `sandbox warm` with no
 * job queued, extraction threads included.
 * With WORKER_PREWARM=false nothing is loaded until a job comes.
 */
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { DEFAULT_BASE_MODEL } from '../../src/queue/jobs.js'
import { startWorkerProcess, testConfig, waitFor } from '../helpers/service.js'

/** The worker's JSON log lines (startWorkerProcess writes them to DATA_DIR/worker.log). */
async function logLines(dataDir: string): Promise<{ msg: string; base?: string; extractThreads?: number }[]> {
  const text = await readFile(path.join(dataDir, 'worker.log'), 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; base?: string; extractThreads?: number })
}

test('a starting worker loads the default base in its sandboxed child before any job', async () => {
  const config = await testConfig({ WORKER_PREWARM: 'true', EXTRACT_THREADS: '1' })
  const worker = startWorkerProcess(config)
  try {
    const warm = await waitFor(async () => (await logLines(config.DATA_DIR)).find((l) => l.msg === 'sandbox warm'), 90_000, 'the warm child')
    expect(warm.base).toBe(DEFAULT_BASE_MODEL)
    expect(await worker.stop()).toBe(0)
  } finally {
    await worker.stop('SIGKILL')
    await rm(config.DATA_DIR, { recursive: true, force: true })
  }
})

test('with two extraction threads, the child is warm with both before any job', async () => {
  const config = await testConfig({ WORKER_PREWARM: 'true', EXTRACT_THREADS: '2' })
  const worker = startWorkerProcess(config)
  try {
    const warm = await waitFor(async () => (await logLines(config.DATA_DIR)).find((l) => l.msg === 'sandbox warm'), 90_000, 'the warm child')
    expect(warm).toMatchObject({ base: DEFAULT_BASE_MODEL, extractThreads: 2 })
    expect(await worker.stop()).toBe(0)
  } finally {
    await worker.stop('SIGKILL')
    await rm(config.DATA_DIR, { recursive: true, force: true })
  }
})

test('with WORKER_PREWARM=false a worker loads nothing before its first job', async () => {
  const config = await testConfig({ WORKER_PREWARM: 'false' })
  const worker = startWorkerProcess(config)
  try {
    await waitFor(async () => ((await logLines(config.DATA_DIR)).some((l) => l.msg === 'worker ready') ? true : undefined), 30_000, 'the worker')
    // A pre-warming child would have started loading by now (the test above sees it within seconds).
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    expect((await logLines(config.DATA_DIR)).map((l) => l.msg)).not.toContain('sandbox warm')
  } finally {
    await worker.stop()
    await rm(config.DATA_DIR, { recursive: true, force: true })
  }
})
