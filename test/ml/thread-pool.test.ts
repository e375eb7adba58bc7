/**
 * The one thread pool (feature extraction and predictions run on it): a thread that dies (or whose WebAssembly module
 * aborted) fails only the task it was running, is replaced, and the pool keeps serving; a task's own error leaves its
 * thread alone; close is clean.
 */
import { AppError } from '../../src/errors.js'
import { createThreadPool, type ThreadPool } from '../../src/ml/thread-pool.js'
import type { TestTask } from '../fixtures/threads/test-thread.js'

const ENTRY = new URL('../fixtures/threads/test-thread.ts', import.meta.url)
const pools: ThreadPool<TestTask, unknown>[] = []

function pool(opts: { size?: number; failInit?: boolean; host?: (req: never) => Promise<unknown> } = {}): ThreadPool<TestTask, unknown> {
  const p = createThreadPool<TestTask, unknown>({ entry: ENTRY, size: opts.size ?? 2, data: { failInit: opts.failInit === true }, ...(opts.host && { host: opts.host }) })
  pools.push(p)
  return p
}
afterAll(() => Promise.all(pools.map((p) => p.close())))

const threadIds = async (p: ThreadPool<TestTask, unknown>) => ((await p.broadcast({ op: 'whoami' })) as number[]).sort()

test.each([
  ['exits (process.exit in the thread)', { op: 'exit' } as const, /exit code 3/],
  ['throws outside any promise', { op: 'uncaught' } as const, /boom outside any promise/],
])('a thread that %s fails only its task, is replaced, and the pool keeps serving', async (_how, killer, reason) => {
  const p = pool()
  await p.start()
  const before = await threadIds(p)
  expect(before).toHaveLength(2)
  // One thread is busy with a slow task while the other dies; tasks queued behind them all succeed.
  const slow = p.run({ op: 'whoami', ms: 300 })
  const dying = p.run(killer)
  const queued = Array.from({ length: 6 }, () => p.run({ op: 'whoami' }))
  await expect(dying).rejects.toMatchObject({ name: 'ThreadDiedError', message: expect.stringMatching(reason) })
  await expect(slow).resolves.toEqual(expect.any(Number))
  await expect(Promise.all(queued)).resolves.toHaveLength(6)
  // Replaced: two threads again, one of them new, and both take work.
  await p.start()
  const after = await threadIds(p)
  expect(after).toHaveLength(2)
  expect(after.filter((id) => !before.includes(id))).toHaveLength(1)
  const both = await Promise.all([p.run({ op: 'whoami', ms: 100 }), p.run({ op: 'whoami', ms: 100 })])
  expect(both.sort()).toEqual(after)
})

test('every thread dying in turn never poisons the pool', async () => {
  const p = pool({ size: 1 })
  for (let i = 0; i < 3; i++) {
    await expect(p.run({ op: 'exit' })).rejects.toMatchObject({ name: 'ThreadDiedError' })
    await expect(p.run({ op: 'whoami' })).resolves.toEqual(expect.any(Number))
  }
})

test("a task's own error comes back with its code and its thread keeps serving", async () => {
  const p = pool({ size: 1 })
  const id = await p.run({ op: 'whoami' })
  const err = await p.run({ op: 'reject' }).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(AppError)
  expect(err).toMatchObject({ code: 'IMAGE_INVALID', message: 'not an image' })
  await expect(p.run({ op: 'whoami' })).resolves.toBe(id)
})

test('a thread whose WebAssembly module aborted (tfjs-wasm out of memory) fails that task with its error and is replaced', async () => {
  const p = pool({ size: 1 })
  const before = await p.run({ op: 'whoami' })
  await expect(p.run({ op: 'wasm-abort' })).rejects.toMatchObject({ name: 'RuntimeError', message: expect.stringMatching(/^Aborted\(OOM\)/) })
  const after = await p.run({ op: 'whoami' })
  expect(after).not.toBe(before)
})

test("a thread's host calls are answered on the pool's thread, errors with their code", async () => {
  const p = pool({
    size: 1,
    host: async (req: { n: number }) => {
      if (req.n < 0) throw new AppError('MODEL_NOT_FOUND', 'no such model')
      return { doubled: req.n * 2 }
    },
  })
  await expect(p.run({ op: 'host', req: { n: 21 } })).resolves.toEqual({ doubled: 42 })
  await expect(p.run({ op: 'host', req: { n: -1 } })).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
})

test('an init error rejects start and the queued tasks instead of hanging', async () => {
  const p = pool({ failInit: true })
  const err = await p.start().catch((e: unknown) => e)
  expect(err).toBeInstanceOf(AppError)
  expect(err).toMatchObject({ code: 'BASE_MODEL_INVALID' })
  await expect(p.run({ op: 'whoami' })).rejects.toMatchObject({ code: 'BASE_MODEL_INVALID' })
})

test('close rejects running and queued tasks and every later one', async () => {
  const p = pool({ size: 1 })
  await p.start()
  const running = expect(p.run({ op: 'whoami', ms: 5_000 })).rejects.toThrow('the thread pool is closed')
  const queued = expect(p.run({ op: 'whoami' })).rejects.toThrow('the thread pool is closed')
  await p.close()
  await running
  await queued
  await expect(p.run({ op: 'whoami' })).rejects.toThrow('the thread pool is closed')
  await expect(p.broadcast({ op: 'whoami' })).rejects.toThrow('the thread pool is closed')
})

test('a task goes to an idle thread that ran its affinity key before, else to any idle thread', async () => {
  const p = pool({ size: 2 })
  await p.start()
  // Occupy the first idle thread so that key "m" lands on the other one.
  const busy = p.run({ op: 'whoami', ms: 200 })
  const home = await p.run({ op: 'whoami' }, [], 'm')
  await busy
  // Both threads are idle now: every later task with key "m" goes back to the same thread, one after another.
  for (let i = 0; i < 5; i++) await expect(p.run({ op: 'whoami' }, [], 'm')).resolves.toBe(home)
  // While that thread is busy, a task with key "m" takes the other one rather than wait.
  const holding = p.run({ op: 'whoami', ms: 200 }, [], 'm')
  await new Promise((resolve) => setTimeout(resolve, 20))
  await expect(p.run({ op: 'whoami' }, [], 'm')).resolves.not.toBe(home)
  await expect(holding).resolves.toBe(home)
})
