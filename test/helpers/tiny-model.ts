/** A tiny stored classifier (32 px input, a conv and a dense layer) for HTTP tests that need a model, not accuracy. */
import path from 'node:path'
import { modelToFiles } from '../../src/ml/file-io.js'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { createModelStore, type ModelMetadata, type ModelStore } from '../../src/storage/models.js'

export const TINY_SIZE = 32

/**
 * Saves a deterministic (seeded) untrained classifier with `labels` as model `id`: into a running app's model
 * store, or as `<dataDir>/models/<id>` for a process that is not started yet.
 */
export async function saveTinyModel(target: string | ModelStore, id: string, labels: string[], seed = 1): Promise<ModelMetadata> {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s })
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [TINY_SIZE, TINY_SIZE, 3], filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: labels.length, activation: 'softmax', kernelInitializer: init(2), biasInitializer: 'zeros' }),
    ],
  })
  const metadata: ModelMetadata = {
    id,
    createdAt: new Date().toISOString(),
    labels,
    base: { id: 'tiny', inputSize: TINY_SIZE, preprocessing: 'scale_0_1' },
    metrics: { count: 0, accuracy: null, topK: [], labels, perClass: [], macro: null, weighted: null, confusionMatrix: [], confusionByLabel: {}, classesWithoutSupport: [] },
    history: [],
  }
  const store = typeof target === 'string' ? createModelStore(path.join(target, 'models')) : target
  await store.save(id, await modelToFiles(model), metadata)
  model.dispose()
  return metadata
}

/** A PNG of vertical colour bands, different for each `seed`. */
export async function bandsImage(seed: number, size = 40): Promise<Buffer> {
  const raw = Buffer.alloc(size * size * 3)
  for (let i = 0; i < size * size; i++) {
    const x = i % size
    for (let c = 0; c < 3; c++) raw[i * 3 + c] = ((x * (seed + 3) * (c + 1) * 37) ^ (seed * 91)) & 255
  }
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer()
}
