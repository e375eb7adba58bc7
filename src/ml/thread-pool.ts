import { availableParallelism } from 'node:os'
import { Worker, parentPort, workerData, type Transferable } from 'node:worker_threads'
import { isTypeScript } from '../sibling-module.js'

/**
 * A fixed set of worker threads running one module, each serving one request at a time. Requests
 * queue in order and go to the first idle thread. Generic: the thread module calls `serveThread` with its
 * handler; nothing here knows about tfjs.
 */
export interface ThreadPool<Req, Res> {
  readonly size: number
  /** Runs one request on an idle thread (queued while none is). `transfer` moves buffers instead of copying. */
  run(req: Req, transfer?: Transferable[]): Promise<Res>
  /** Stops every thread; queued and running requests reject. */
  close(): Promise<void>
}

export interface ThreadPoolOptions {
  /** The thread's module (built `.js`; a `.ts` source under tests): it must call `serveThread`. */
  entry: URL
  /** Threads to start. @defaultValue os.availableParallelism() */
  size?: number
  /** Given to every thread's `serveThread` init function (structured-cloned). */
  data?: unknown
}

type Reply = { ready: true } | { id: number; ok: true; res: unknown } | { id?: number; ok: false; error: { name: string; message: string; code?: unknown } }

interface Task {
  req: unknown
  transfer: Transferable[]
  resolve(res: unknown): void
  reject(err: Error): void
}

/** Tests only: boots a thread that runs TypeScript source (see ts-thread.mjs). */
const TS_BOOT = new URL('./ts-thread.mjs', import.meta.url)

/**
 * Starts one worker thread running the module `entry`; the module reads `data` with `threadData()`. The built
 * service runs the compiled `.js` entry directly; a `.ts` entry (tests run the sources) goes through
 * ts-thread.mjs, which registers tsx in the thread first.
 */
export function startThread(entry: URL, data: unknown): Worker {
  // The environment as this module sees it (jest gives each test file its own copy of process.env), so a thread
  // finds the same AWS credential chain as the code that started it.
  const options = { workerData: { entry: entry.href, data }, env: { ...process.env } }
  return isTypeScript(entry) ? new Worker(TS_BOOT, options) : new Worker(entry, options)
}

/** In a thread started by `startThread`: the `data` it was given. */
export function threadData<T>(): T {
  return (workerData as { data: T }).data
}

/**
 * Starts the threads and resolves once every one has initialised.
 * @throws the first thread's init error (all threads are stopped then)
 */
export async function createThreadPool<Req, Res>(opts: ThreadPoolOptions): Promise<ThreadPool<Req, Res>> {
  const size = Math.max(1, opts.size ?? availableParallelism())
  const queue: Task[] = []
  const idle: Worker[] = []
  const busy = new Map<Worker, Task>()
  let failure: Error | undefined
  let nextId = 0

  const fail = (err: Error) => {
    failure ??= err
    for (const task of [...busy.values(), ...queue.splice(0)]) task.reject(failure)
    busy.clear()
  }
  const pump = () => {
    while (!failure && idle.length > 0 && queue.length > 0) {
      const worker = idle.pop()!
      const task = queue.shift()!
      busy.set(worker, task)
      worker.ref() // a thread at work keeps the process alive; idle ones do not
      worker.postMessage({ id: nextId++, req: task.req }, task.transfer)
    }
  }

  const workers = Array.from({ length: size }, () => startThread(opts.entry, opts.data))
  const ready = workers.map(
    (worker) =>
      new Promise<void>((resolve, reject) => {
        worker.on('message', (msg: Reply) => {
          if ('ready' in msg) {
            worker.unref()
            idle.push(worker)
            resolve()
            return pump()
          }
          const task = busy.get(worker)
          if (msg.id === undefined) return reject(toError(msg.ok ? undefined : msg.error)) // init failed
          busy.delete(worker)
          worker.unref()
          idle.push(worker)
          if (msg.ok) task?.resolve(msg.res)
          else task?.reject(toError(msg.error))
          pump()
        })
        worker.on('error', (err) => {
          reject(err)
          fail(err)
        })
        worker.on('exit', (code) => {
          const err = new Error(`a worker thread exited (code ${code})`)
          reject(err)
          fail(err)
        })
      }),
  )
  try {
    await Promise.all(ready)
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()))
    throw err
  }

  return {
    size,
    run(req, transfer = []) {
      if (failure) return Promise.reject(failure)
      return new Promise<Res>((resolve, reject) => {
        queue.push({ req, transfer, resolve: resolve as (res: unknown) => void, reject })
        pump()
      })
    },
    async close() {
      fail(new Error('the thread pool is closed'))
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
}

function toError(e: { name: string; message: string; code?: unknown } | undefined): Error {
  const err = Object.assign(new Error(e?.message ?? 'unknown error in a worker thread'), e?.code === undefined ? {} : { code: e.code })
  err.name = e?.name ?? 'Error'
  return err
}

/**
 * The thread side: runs `init(data)` once, then answers each request with the handler it returned.
 * Call it from the module given as `entry`.
 */
export function serveThread<Req, Res>(init: (data: unknown) => Promise<(req: Req) => Promise<{ res: Res; transfer?: Transferable[] }>>): void {
  const port = parentPort
  if (!port) throw new Error('serveThread must run in a worker thread')
  const asError = (err: unknown) => ({
    name: err instanceof Error ? err.name : 'Error',
    message: err instanceof Error ? err.message : String(err),
    code: (err as { code?: unknown } | null)?.code,
  })
  init(threadData()).then(
    (handle) => {
      port.on('message', ({ id, req }: { id: number; req: Req }) => {
        handle(req).then(
          ({ res, transfer }) => port.postMessage({ id, ok: true, res }, transfer ?? []),
          (err: unknown) => port.postMessage({ id, ok: false, error: asError(err) }),
        )
      })
      port.postMessage({ ready: true })
    },
    (err: unknown) => port.postMessage({ ok: false, error: asError(err) }),
  )
}
