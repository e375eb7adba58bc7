import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { saveModel } from '../../src/ml/export.js'

/**
 * A small conv net shaped like the real bases (convs → global pool `pool` → its own dense head `orig_head`),
 * seeded, saved as a tfjs LayersModel in `target`: a base that loads in milliseconds.
 * @returns the path of its model.json
 */
export async function writeTinyBase(target: string, opts: { size: number; headUnits: number }): Promise<string> {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed })
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [opts.size, opts.size, 3], filters: 8, kernelSize: 3, strides: 2, activation: 'relu', name: 'conv1', kernelInitializer: init(1) }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', name: 'conv2', kernelInitializer: init(2) }),
      tf.layers.globalAveragePooling2d({ name: 'pool' }),
      tf.layers.dense({ units: opts.headUnits, activation: 'softmax', name: 'orig_head', kernelInitializer: init(3) }),
    ],
  })
  await saveModel(model, target)
  model.dispose()
  return path.join(target, 'model.json')
}
