/**
 * The default base's extraction threads, started as this sandboxed child begins to evaluate the processor: first of
 * its imports, before tfjs, bullmq and the storage clients, so each thread imports tfjs and loads the base on its
 * own core while the child's main thread is still importing (a first job waited ≈ 2 s for the warm-up, issue 14).
 * Only light modules here (no tfjs); train.ts imports this first and takes the threads in `poolFor`.
 */
import { availableParallelism } from 'node:os'
import { loadConfig } from '../../src/config.js'
import { DEFAULT_BASE_MODEL } from '../../src/contract/jobs.js'
import type { BuiltinBaseId } from '../../src/ml/bases.js'
import { createFeaturePool, type FeaturePool } from '../../src/ml/feature-pool.js'
import { dataLayout } from '../../src/storage/layout.js'

const config = loadConfig()
// A bundled base (an uploaded one would fail to load in the threads, and `poolFor` would start its own).
const base = DEFAULT_BASE_MODEL as BuiltinBaseId
const threads = config.EXTRACT_THREADS || availableParallelism()
// The pool is wasm only: with no backend named ('') the job thread may still pick tfjs-node, and then `poolFor`
// closes these unused.
let early: Promise<FeaturePool> | undefined =
  config.WORKER_PREWARM && threads >= 2 && (config.IMAGETUNE_BACKEND === 'wasm' || config.IMAGETUNE_BACKEND === '')
    ? createFeaturePool({ base, basesDir: dataLayout(config.DATA_DIR).bases, threads })
    : undefined
early?.catch(() => undefined) // reported by `poolFor`: that job extracts in its own thread, the next starts fresh threads

/** The early threads, once (undefined when none were started or they were taken): `threads` threads for `base`. */
export function takeEarlyThreads(): { pool: Promise<FeaturePool>; base: BuiltinBaseId; threads: number } | undefined {
  const pool = early
  early = undefined
  return pool && { pool, base, threads }
}
