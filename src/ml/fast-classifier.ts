import * as tf from '@tensorflow/tfjs'
import type { Classifier } from './export.js'
import { compileFastTrunk } from './fast-trunk.js'
import { HEAD_LAYERS } from './train.js'

/** A stored classifier ready to run: image batch → probabilities. */
export interface RunnableClassifier {
  /** `[n, s, s, 3]` preprocessed images → `[n, classes]` probabilities; the caller disposes the result. */
  predict(x: tf.Tensor4D): tf.Tensor2D
  /** Frees what this wrapper made (folded weights); the model itself is the caller's. */
  dispose(): void
  /** Whether the trunk runs on fused ops (about twice the LayersModel's speed on wasm). */
  fast: boolean
}

const HEAD_NAMES: ReadonlySet<string> = new Set(Object.values(HEAD_LAYERS))

/**
 * Runs a classifier as `composeClassifier` builds it (trunk, then the head's layers) with the trunk compiled to
 * fused ops, as feature extraction does, and the head's few layers applied in inference mode. Anything else (a
 * model without our head, a trunk layer the fast path does not know) runs as the LayersModel it is. A GraphModel
 * (on a GraphModel base) runs as loaded, to its signature's output: the same call a browser makes.
 */
export function runnableClassifier(model: Classifier): RunnableClassifier {
  if (model instanceof tf.GraphModel) return { predict: (x) => model.predict(x) as tf.Tensor2D, dispose: () => undefined, fast: false }
  const plain: RunnableClassifier = { predict: (x) => model.predict(x) as tf.Tensor2D, dispose: () => undefined, fast: false }
  const head = model.layers.filter((layer) => HEAD_NAMES.has(layer.name))
  const first = head[0]
  if (!first) return plain
  // Shares the model's layers and weights: nothing to dispose.
  const trunk = tf.model({ inputs: model.inputs, outputs: first.input as tf.SymbolicTensor })
  const compiled = compileFastTrunk(trunk)
  if (!('trunk' in compiled)) return plain
  return {
    predict: (x) => tf.tidy(() => head.reduce((h, layer) => layer.apply(h, { training: false }) as tf.Tensor, compiled.trunk.predict(x)) as tf.Tensor2D),
    dispose: () => compiled.trunk.dispose(),
    fast: true,
  }
}
