import { availableParallelism } from 'node:os'
import { siblingModule } from '../sibling-module.js'
import type { BackendOverride } from './backend.js'
import type { BaseModelRef } from './bases.js'
import type { DataInsights, DataInsightsInput } from './data-insights.js'
import { createThreadPool, type ThreadPool } from './thread-pool.js'

/** What each thread loads: the same base as the caller, from the same folder, on the given backend. */
export interface FeaturePoolData {
  base: BaseModelRef
  basesDir: string
  backend: BackendOverride
}

/** One sub-batch: `count` decoded images packed back to back (`count × size × size × 3` RGB bytes). */
export interface EmbedRequest {
  kind: 'embed'
  pixels: Uint8Array
  count: number
}

/** `dataInsights` on a thread: the vectors packed row after row (`n × d`), the rest of its input as is. */
export interface InsightsRequest {
  kind: 'insights'
  features: Float32Array
  thumbnails?: Float32Array | undefined
  input: Omit<DataInsightsInput, 'features' | 'thumbnails' | 'validation' | 'signal'> & { validation: number[] }
}

export type FeatureRequest = EmbedRequest | InsightsRequest

/**
 * Worker threads that each hold a wasm backend and a copy of one base, so feature extraction uses every core
 * (tfjs wasm runs one thread per backend here). Give its `embed` to `extractFeatures`.
 */
export interface FeaturePool {
  readonly threads: number
  /**
   * Embeds decoded images (`decodeImage` output at the base's input size) in sub-batches spread over the threads.
   * @returns `[n × featureSize]` features, image after image
   */
  embed(pixels: Uint8Array[]): Promise<Float32Array>
  /**
   * `dataInsights` on an idle thread, so a job's head can train meanwhile on its own thread: the same wasm ops
   * on the same inputs, so the same answer. The thread cannot see `signal`; an aborted job's insights finish there
   * (a few seconds at most) and are dropped.
   */
  insights(input: DataInsightsInput): Promise<DataInsights>
  close(): Promise<void>
}

export interface FeaturePoolOptions {
  base: BaseModelRef
  basesDir: string
  /** Threads, each with its own wasm heap (≈0.3–0.5 GB for MobileNetV2 at 8 images). @defaultValue one per core */
  threads?: number
  /** @defaultValue 'wasm' */
  backend?: BackendOverride
  /**
   * Most images per thread call: throughput is flat from 4 to 16 while the heap grows with it.
   * @defaultValue 8
   */
  subBatch?: number
}

/**
 * Starts the threads and loads the base in each (the base must already be extracted or extractable there).
 * @throws the first thread's error while loading (e.g. AppError BASE_MODEL_INVALID)
 */
export async function createFeaturePool(opts: FeaturePoolOptions): Promise<FeaturePool> {
  const threads = Math.max(1, opts.threads ?? availableParallelism())
  const subBatch = Math.max(1, opts.subBatch ?? 8)
  const data: FeaturePoolData = { base: opts.base, basesDir: opts.basesDir, backend: opts.backend ?? 'wasm' }
  const pool: ThreadPool<FeatureRequest, Float32Array | DataInsights> = createThreadPool({ entry: siblingModule('./feature-thread', import.meta.url), size: threads, data })
  try {
    await pool.start()
  } catch (err) {
    await pool.close()
    throw err
  }
  return {
    threads,
    async embed(pixels) {
      if (pixels.length === 0) return new Float32Array(0)
      // Even sub-batches, one per thread at least, so a batch keeps every thread busy.
      const parts = Math.max(Math.min(threads, pixels.length), Math.ceil(pixels.length / subBatch))
      const per = Math.ceil(pixels.length / parts)
      const calls: Promise<Float32Array>[] = []
      for (let i = 0; i < pixels.length; i += per) {
        const chunk = pixels.slice(i, i + per)
        const packed = new Uint8Array(chunk.reduce((n, p) => n + p.length, 0))
        let at = 0
        for (const p of chunk) {
          packed.set(p, at)
          at += p.length
        }
        calls.push(pool.run({ kind: 'embed', pixels: packed, count: chunk.length }, [packed.buffer]) as Promise<Float32Array>)
      }
      const results = await Promise.all(calls)
      const out = new Float32Array(results.reduce((n, r) => n + r.length, 0))
      let at = 0
      for (const r of results) {
        out.set(r, at)
        at += r.length
      }
      return out
    },
    insights({ features, thumbnails, validation, signal: _signal, ...rest }) {
      const packedFeatures = packRows(features)
      const packedThumbnails = thumbnails && packRows(thumbnails)
      const req: InsightsRequest = { kind: 'insights', features: packedFeatures, thumbnails: packedThumbnails, input: { ...rest, validation: [...validation] } }
      const transfer = [packedFeatures.buffer as ArrayBuffer, ...(packedThumbnails ? [packedThumbnails.buffer as ArrayBuffer] : [])]
      return pool.run(req, transfer) as Promise<DataInsights>
    },
    close: () => pool.close(),
  }
}

/** Equal-length rows, one after another in one new buffer (which can then be moved to a thread). */
function packRows(rows: readonly Float32Array[]): Float32Array {
  const d = rows[0]?.length ?? 0
  const out = new Float32Array(rows.length * d)
  rows.forEach((r, i) => out.set(r, i * d))
  return out
}
