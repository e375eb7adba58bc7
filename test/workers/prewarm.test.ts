/**
 * Pre-warm: a worker process (the build, as production runs it) forks its sandboxed child as it starts, and the
 * child loads the default base before any job arrives (observable in DATA_DIR: the bundled base is extracted there
 * on its first load). With WORKER_PREWARM=false nothing is loaded until a job comes.
 */
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { DEFAULT_BASE_MODEL } from '../../src/queue/jobs.js'
import { dataLayout } from '../../src/storage/layout.js'
import { startWorkerProcess, testConfig, waitFor } from '../helpers/service.js'

const baseFile = (dataDir: string) => path.join(dataLayout(dataDir).bases, DEFAULT_BASE_MODEL, 'model.json')

test('a starting worker loads the default base in its sandboxed child before any job', async () => {
  const config = await testConfig({ WORKER_PREWARM: 'true', EXTRACT_THREADS: '1' })
  const worker = startWorkerProcess(config)
  try {
    await waitFor(async () => (existsSync(baseFile(config.DATA_DIR)) ? true : undefined), 60_000, 'the default base loaded by the warm child')
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
    // Long enough for a warm child to have extracted the base (the test above sees it within ~3 s).
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    expect(worker.child.exitCode).toBeNull()
    expect(existsSync(baseFile(config.DATA_DIR))).toBe(false)
  } finally {
    await worker.stop()
    await rm(config.DATA_DIR, { recursive: true, force: true })
  }
})
