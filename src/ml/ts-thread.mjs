// Tests only: the entry of a worker thread whose module is TypeScript source (jest runs the sources). It registers
// tsx's ESM hooks in the thread (a Worker ignores `--import` in execArgv on Node 20), then runs the module named
// by `workerData.entry`. The built service starts its compiled `.js` entries directly and never loads this file.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
