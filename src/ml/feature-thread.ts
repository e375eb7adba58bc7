/** A feature-pool thread: its own tfjs backend and copy of the base; embeds packed image batches. */
import * as tf from '@tensorflow/tfjs'
import { initBackend, type BackendOverride } from './backend.js'
import { loadBase, type BaseModelRef } from './bases.js'
import { toInputTensor } from './image.js'
import { movable, serveThread } from './thread-pool.js'
import type { EmbedRequest, FeaturePoolData } from './feature-pool.js'

serveThread<EmbedRequest, Float32Array>(async (data) => {
  const { base: ref, basesDir, backend } = data as FeaturePoolData
  await initBackend(backend as BackendOverride)
  const base = await loadBase(ref as BaseModelRef, basesDir)
  const per = base.inputSize * base.inputSize * 3
  return async ({ pixels, count }) => {
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
