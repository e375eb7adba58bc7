// Entry of every worker thread we start: makes TypeScript importable in the thread (tsx's ESM hooks; a Worker
// ignores `--import` in execArgv on Node 20), then runs the module named by `workerData.entry`.
// Plain JavaScript because it must load before any TypeScript can; it works the same under tsx and under jest.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
