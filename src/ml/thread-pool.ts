import { availableParallelism } from 'node:os'
import { Worker, parentPort, workerData, type Transferable } from 'node:worker_threads'
import { AppError, isErrorCode } from '../errors.js'
import { isTypeScript } from '../sibling-module.js'

/**
 * A fixed number of worker threads running one module, each serving one task at a time: tasks queue in order
 * and go to an idle thread, preferably one that has run a task with the same affinity key before. A thread that dies (an uncaught error, `process.exit`, out of memory) fails
 * only what it was running, with an error that says so, and is replaced; the others keep serving. So is a thread
 * whose WebAssembly module aborted (tfjs-wasm out of memory), after its task fails with that error. Generic: the
 * thread module calls `serveThread` with its handler; nothing here knows about tfjs.
 */
export interface ThreadPool<Req, Res> {
  readonly size: number
  /**
   * Starts every thread not running yet and resolves once each has initialised. `run` starts them too; call this
   * to load up front and to see an init error at once.
   * @throws the first thread's init error
   */
  start(): Promise<void>
  /**
   * Runs one task on an idle thread (queued while none is). `transfer` moves buffers instead of copying.
   * `affinity` names what the task needs loaded (e.g. a model id): an idle thread that ran that key recently is
   * preferred, so a quiet service keeps one copy of a model warm instead of loading it into every thread in turn.
   */
  run(req: Req, transfer?: Transferable[], affinity?: string): Promise<Res>
  /**
   * Sends `req` to every started thread at once, beside whatever task it runs (e.g. to drop a model from each
   * thread's memory); a thread still starting gets it once it has initialised. Starts none.
   * @returns one answer per thread that answered
   */
  broadcast(req: Req): Promise<Res[]>
  /** Stops every thread; queued and running tasks reject. */
  close(): Promise<void>
}

export interface ThreadPoolOptions {
  /** The thread's module (built `.js`; a `.ts` source under tests): it must call `serveThread`. */
  entry: URL
  /** Threads to run. @defaultValue os.availableParallelism() */
  size?: number
  /** Given to every thread's `serveThread` init function (structured-cloned). */
  data?: unknown
  /**
   * Answers a thread's `callHost(req)` on the pool's thread (its answer is structured-cloned), so a thread can
   * use I/O its caller owns (e.g. the model store) without opening its own.
   */
  host?: (req: never) => Promise<unknown>
}

/** An error as it crosses a thread boundary. */
interface WireError {
  name: string
  message: string
  code?: unknown
  details?: unknown
}

type ToPool =
  | { ready: true }
  | { initError: WireError }
  | { id: number; ok: true; res: unknown }
  | { id: number; ok: false; error: WireError; fatal?: true }
  | { hostCall: number; req: unknown }
type ToThread = { id: number; req: unknown } | { hostCall: number; ok: true; res: unknown } | { hostCall: number; ok: false; error: WireError }

interface Call {
  resolve(res: unknown): void
  reject(err: Error): void
}

interface Task extends Call {
  req: unknown
  transfer: Transferable[]
  affinity?: string | undefined
}

/** Affinity keys a thread remembers; older ones are forgotten (the thread has likely dropped what they needed). */
const AFFINITY_MEMORY = 8

interface Thread {
  worker: Worker
  ready: boolean
  /** The `run` task it serves, if any. */
  task?: number
  /** Everything awaiting its answer: its task and broadcasts, by message id. */
  calls: Map<number, Call>
  /** Settles when it has initialised (or failed to). */
  started: Promise<void>
  /** Its `error` event (uncaught exception, out of memory), reported when it exits. */
  error?: Error
  initError?: Error
  /** Told it is broken (see `fatal` in serveThread): takes no more tasks and is replaced once it has exited. */
  retired?: true
  /** The affinity keys of the tasks it ran, least recent first. */
  recent: Set<string>
}

/** Tests only: boots a thread that runs TypeScript source (see ts-thread.mjs). */
const TS_BOOT = new URL('./ts-thread.mjs', import.meta.url)

/**
 * Starts one worker thread running the module `entry`; the module reads `data` with `threadData()`. The built
 * service runs the compiled `.js` entry directly; a `.ts` entry (tests run the sources) goes through
 * ts-thread.mjs, which registers tsx in the thread first.
 */
function startThread(entry: URL, data: unknown): Worker {
  // The environment as this module sees it (jest gives each test file its own copy of process.env), so a thread
  // reads the same settings as the code that started it.
  const options = { workerData: { entry: entry.href, data }, env: { ...process.env } }
  return isTypeScript(entry) ? new Worker(TS_BOOT, options) : new Worker(entry, options)
}

/** Threads start on `start()` or the first `run`, not here. */
export function createThreadPool<Req, Res>(opts: ThreadPoolOptions): ThreadPool<Req, Res> {
  const slots: (Thread | undefined)[] = Array.from({ length: Math.max(1, opts.size ?? availableParallelism()) }, () => undefined)
  const queue: Task[] = []
  let closed = false
  let nextId = 0

  const closedError = () => new Error('the thread pool is closed')
  /** A thread at work keeps the process alive; idle ones do not. */
  const reref = (thread: Thread) => (thread.ready && thread.calls.size === 0 ? thread.worker.unref() : thread.worker.ref())
  const send = (thread: Thread, msg: ToThread, transfer: Transferable[] = []) => thread.worker.postMessage(msg, transfer)

  const idle = (thread: Thread | undefined): thread is Thread => !!thread?.ready && !thread.retired && thread.task === undefined
  /** Hands queued tasks, in order, to idle threads: each to one that knows its affinity key if one is idle. */
  const pump = () => {
    while (queue.length > 0) {
      const free = slots.filter(idle)
      if (free.length === 0) return
      const task = queue.shift()!
      const thread = free.find((t) => task.affinity !== undefined && t.recent.has(task.affinity)) ?? free[0]!
      if (task.affinity !== undefined) {
        thread.recent.delete(task.affinity)
        thread.recent.add(task.affinity)
        if (thread.recent.size > AFFINITY_MEMORY) thread.recent.delete(thread.recent.values().next().value!)
      }
      const id = nextId++
      thread.task = id
      thread.calls.set(id, task)
      reref(thread)
      send(thread, { id, req: task.req }, task.transfer)
    }
  }

  const startSlot = (slot: number): Thread => {
    const worker = startThread(opts.entry, opts.data)
    let initialised!: (err?: Error) => void
    const thread: Thread = { worker, ready: false, calls: new Map(), recent: new Set(), started: new Promise((resolve, reject) => (initialised = (err) => (err ? reject(err) : resolve()))) }
    thread.started.catch(() => {}) // reported through start() or the queue, not as an unhandled rejection
    slots[slot] = thread
    worker.on('message', (msg: ToPool) => {
      if ('ready' in msg) {
        thread.ready = true
        reref(thread)
        initialised()
        pump()
      } else if ('initError' in msg) {
        thread.initError = fromWire(msg.initError)
        void worker.terminate() // its exit frees the slot
      } else if ('hostCall' in msg) {
        answerHost(thread, msg.hostCall, msg.req)
      } else {
        const call = thread.calls.get(msg.id)
        if (!call) return
        thread.calls.delete(msg.id)
        if (thread.task === msg.id) thread.task = undefined
        reref(thread)
        if (msg.ok) call.resolve(msg.res)
        else call.reject(fromWire(msg.error))
        if (!msg.ok && msg.fatal) {
          thread.retired = true
          void worker.terminate() // its exit starts the replacement
        }
        pump()
      }
    })
    worker.on('error', (err) => {
      thread.error ??= err
    })
    worker.on('exit', (code) => {
      if (slots[slot] === thread) slots[slot] = undefined
      const cause = thread.initError?.message ?? thread.error?.message ?? `exit code ${code}`
      const died = closed ? closedError() : Object.assign(new Error(`the worker thread running this died (${cause}); it is replaced`), { name: 'ThreadDiedError' })
      for (const call of thread.calls.values()) call.reject(died)
      thread.calls.clear()
      if (!thread.ready) initialised(thread.initError ?? died)
      if (closed) return
      if (thread.ready) {
        startSlot(slot) // died at work: its replacement takes the queue
      } else if (slots.every((t) => t === undefined)) {
        // Failed to start and no other thread will take the queue: fail it rather than wait forever. The next run
        // tries again.
        for (const task of queue.splice(0)) task.reject(thread.initError ?? died)
      }
      pump()
    })
    return thread
  }

  const answerHost = (thread: Thread, hostCall: number, req: unknown) => {
    const answer = opts.host ? opts.host(req as never) : Promise.reject(new Error('this thread pool has no host'))
    answer.then(
      (res) => send(thread, { hostCall, ok: true, res }),
      (err: unknown) => send(thread, { hostCall, ok: false, error: toWire(err) }),
    )
  }

  const startAll = () => slots.forEach((thread, slot) => thread ?? startSlot(slot))

  return {
    size: slots.length,
    async start() {
      if (closed) throw closedError()
      startAll()
      await Promise.all(slots.map((t) => t?.started))
    },
    run(req, transfer = [], affinity) {
      if (closed) return Promise.reject(closedError())
      startAll()
      return new Promise<Res>((resolve, reject) => {
        queue.push({ req, transfer, affinity, resolve: resolve as (res: unknown) => void, reject })
        pump()
      })
    },
    async broadcast(req) {
      if (closed) throw closedError()
      const answers = await Promise.all(
        slots.map(async (thread) => {
          if (!thread) return []
          // A thread still starting gets it once it has initialised; one that fails to, or has died since, has
          // nothing to answer (its exit settled its calls already, so a message now would wait forever).
          if (!(await thread.started.then(() => true, () => false)) || !slots.includes(thread)) return []
          return [
            await new Promise<Res>((resolve, reject) => {
              const id = nextId++
              thread.calls.set(id, { resolve: resolve as (res: unknown) => void, reject })
              reref(thread)
              send(thread, { id, req })
            }),
          ]
        }),
      )
      return answers.flat()
    },
    async close() {
      closed = true
      const err = closedError()
      for (const task of queue.splice(0)) task.reject(err)
      await Promise.all(slots.map((thread) => thread?.worker.terminate()))
    },
  }
}

function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) }
  const { code, details } = err as { code?: unknown; details?: unknown }
  return { name: err.name, message: err.message, ...(code !== undefined && { code }), ...(details !== undefined && { details }) }
}

/** An AppError comes back as one (so its code maps to its status); any other error keeps its name and code. */
function fromWire(e: WireError): Error {
  if (e.name === 'AppError' && typeof e.code === 'string' && isErrorCode(e.code)) return new AppError(e.code, e.message, e.details)
  const err = Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code })
  err.name = e.name
  return err
}

/** In a thread started by a pool: the `data` it was given. */
export function threadData<T>(): T {
  return (workerData as { data: T }).data
}

const hostCalls = new Map<number, Call>()
let nextHostCall = 0

/** In a pool's thread: asks the pool's `host` and resolves with its answer. */
export function callHost<Res>(req: unknown): Promise<Res> {
  const port = parentPort
  if (!port) throw new Error('callHost must run in a worker thread')
  return new Promise<Res>((resolve, reject) => {
    const hostCall = nextHostCall++
    hostCalls.set(hostCall, { resolve: resolve as (res: unknown) => void, reject })
    port.postMessage({ hostCall, req } satisfies ToPool)
  })
}

/**
 * The thread side: runs `init(data)` once, then answers each task (and broadcast) with the handler it returned,
 * several at once if they come. Call it from the module given as `entry`.
 */
export function serveThread<Req, Res>(init: (data: unknown) => Promise<(req: Req) => Promise<{ res: Res; transfer?: Transferable[] }>>): void {
  const port = parentPort
  if (!port) throw new Error('serveThread must run in a worker thread')
  let handle: ((req: Req) => Promise<{ res: Res; transfer?: Transferable[] }>) | undefined
  port.on('message', (msg: ToThread) => {
    if ('hostCall' in msg) {
      const call = hostCalls.get(msg.hostCall)
      hostCalls.delete(msg.hostCall)
      if (msg.ok) call?.resolve(msg.res)
      else call?.reject(fromWire(msg.error))
      return
    }
    // The pool sends work only after `ready`, so `handle` is set.
    handle!(msg.req as Req).then(
      ({ res, transfer }) => port.postMessage({ id: msg.id, ok: true, res } satisfies ToPool, transfer ?? []),
      (err: unknown) => {
        // An aborted WebAssembly module (tfjs-wasm's heap could not grow: `Aborted(OOM)`) fails every later call, so
        // the thread asks to be replaced rather than answer each of its next tasks with the same error.
        const fatal = err instanceof WebAssembly.RuntimeError
        port.postMessage({ id: msg.id, ok: false, error: toWire(err), ...(fatal && { fatal: true as const }) } satisfies ToPool)
      },
    )
  })
  init(threadData()).then(
    (handler) => {
      handle = handler
      port.postMessage({ ready: true } satisfies ToPool)
    },
    (err: unknown) => port.postMessage({ initError: toWire(err) } satisfies ToPool),
  )
}

/**
 * `data` as a buffer that can be moved to the other thread: itself when it spans its whole buffer, else a copy
 * (moving a view's buffer would move the rest of it too).
 */
export function movable(data: Float32Array): Float32Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice()
}
