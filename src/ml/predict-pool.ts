import type { Worker } from 'node:worker_threads'
import { AppError, isErrorCode } from '../errors.js'
import { siblingModule } from '../sibling-module.js'
import type { BackendOverride } from './backend.js'
import type { ModelRunner, RunnerMemory } from './model-runner.js'
import { startThread } from './thread-pool.js'

/** What each prediction thread is started with. */
export interface ThreadData {
  /** Where models are read when `storageUrl` is empty: a local models folder. */
  modelsDir: string
  /** The shared store's STORAGE_URL (`s3://…`); each thread opens its own client to it. */
  storageUrl?: string
  backend: BackendOverride
  maxLoaded: number
}

export type PoolRequest = { id: number } & (
  | { type: 'run'; modelId: string; pixels: Uint8Array[] }
  | { type: 'evict'; modelId: string }
  | { type: 'memory' }
  | { type: 'close' }
)
type RequestBody = PoolRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never

export type PoolResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code?: string; message: string; details?: unknown } }

/** The threads own the models, so what they hold is asked for with `memory()`. */
export interface PredictPool extends Omit<ModelRunner, 'loadedCount'> {
  /** What each started thread's backend holds. */
  memory(): Promise<RunnerMemory[]>
}

export interface PredictPoolOptions extends ThreadData {
  /** worker_threads to run, each with its own backend and model LRU. */
  threads: number
}

interface Thread {
  worker: Worker
  pending: Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>
}

const THREAD_ENTRY = siblingModule('./predict-thread', import.meta.url)

/**
 * A pool of prediction threads. Runs go to the thread with the fewest in flight; each thread loads the models it
 * is asked for, so memory is (threads × loaded models). Threads start on first use; one that dies fails its
 * in-flight runs and is replaced on the next call.
 */
export function createPredictPool(opts: PredictPoolOptions): PredictPool {
  const data: ThreadData = { modelsDir: opts.modelsDir, ...(opts.storageUrl && { storageUrl: opts.storageUrl }), backend: opts.backend, maxLoaded: opts.maxLoaded }
  const threads: (Thread | undefined)[] = Array.from({ length: Math.max(1, opts.threads) }, () => undefined)
  let nextId = 0
  let closed = false

  const start = (slot: number): Thread => {
    const thread: Thread = { worker: startThread(THREAD_ENTRY, data), pending: new Map() }
    const fail = (err: Error) => {
      if (threads[slot] === thread) threads[slot] = undefined
      for (const { reject } of thread.pending.values()) reject(err)
      thread.pending.clear()
    }
    thread.worker.on('message', (response: PoolResponse) => {
      const call = thread.pending.get(response.id)
      if (!call) return
      thread.pending.delete(response.id)
      if (response.ok) call.resolve(response.value)
      else {
        const { code, message, details } = response.error
        call.reject(isErrorCode(code) ? new AppError(code, message, details) : new Error(message))
      }
    })
    thread.worker.on('error', (err) => fail(new Error(`prediction thread failed: ${err.message}`)))
    thread.worker.on('exit', (code) => fail(new Error(`prediction thread exited with code ${code}`)))
    threads[slot] = thread
    return thread
  }
  const call = (thread: Thread, body: RequestBody): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++
      thread.pending.set(id, { resolve, reject })
      thread.worker.postMessage({ ...body, id })
    })
  const leastBusy = (): Thread => {
    if (closed) throw new Error('the prediction pool is closed')
    let best: Thread | undefined
    for (let slot = 0; slot < threads.length; slot++) {
      const thread = threads[slot] ?? start(slot)
      if (!best || thread.pending.size < best.pending.size) best = thread
    }
    return best!
  }
  const started = () => threads.filter((t): t is Thread => t !== undefined)

  return {
    run: async (modelId, pixels) => (await call(leastBusy(), { type: 'run', modelId, pixels })) as Float32Array,
    async evict(modelId) {
      await Promise.all(started().map((t) => call(t, { type: 'evict', modelId })))
    },
    memory: () => Promise.all(started().map(async (t) => (await call(t, { type: 'memory' })) as RunnerMemory)),
    async close() {
      closed = true
      await Promise.all(
        started().map(async (t) => {
          await call(t, { type: 'close' }).catch(() => undefined)
          await t.worker.terminate()
        }),
      )
    },
  }
}
