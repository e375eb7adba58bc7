/** A feature-pool thread: its own tfjs backend and copy of the base; embeds packed image batches, or runs a job's data insights. */
import * as tf from '@tensorflow/tfjs'
import { initBackend, type BackendOverride } from './backend.js'
import { loadBase, type BaseModelRef } from './bases.js'
import { dataInsights, type DataInsights } from './data-insights.js'
import { toInputTensor } from './image.js'
import { movable, serveThread } from './thread-pool.js'
import type { FeaturePoolData, FeatureRequest, InsightsRequest } from './feature-pool.js'

serveThread<FeatureRequest, Float32Array | DataInsights>(async (data) => {
  const { base: ref, basesDir, backend } = data as FeaturePoolData
  await initBackend(backend as BackendOverride)
  const base = await loadBase(ref as BaseModelRef, basesDir)
  const per = base.inputSize * base.inputSize * 3
  return async (req) => {
    if (req.kind === 'insights') return { res: insightsOf(req) }
    const { pixels, count } = req
    const images = Array.from({ length: count }, (_, i) => pixels.subarray(i * per, (i + 1) * per))
    const out = tf.tidy(() => base.embed(toInputTensor(images, base.inputSize, base.preprocessing)))
    try {
      const res = movable((await out.data()) as Float32Array)
      return { res, transfer: [res.buffer as ArrayBuffer] }
    } finally {
      out.dispose()
    }
  }
})

function insightsOf({ features, thumbnails, input }: InsightsRequest): DataInsights {
  const rows = (packed: Float32Array) => {
    const d = packed.length / input.labels.length
    return Array.from({ length: input.labels.length }, (_, i) => packed.subarray(i * d, (i + 1) * d))
  }
  return dataInsights({ ...input, features: rows(features), thumbnails: thumbnails && rows(thumbnails), validation: new Set(input.validation) })
}
