import * as tf from '@tensorflow/tfjs'
import type { Base, LayersBase } from './bases.js'
import { toArtifacts } from './file-io.js'
import { composeGraphClassifier } from './graph-export.js'

/** A stored classifier: a LayersModel (on a LayersModel base) or a GraphModel (on a GraphModel base). */
export type Classifier = tf.LayersModel | tf.GraphModel

/**
 * One self-contained classifier on any base: `composeClassifier` for LayersModel bases, `composeGraphClassifier`
 * (graph ops appended to the base graph) for GraphModel bases. Owns its weights.
 */
export function composeModel(base: Base, head: tf.LayersModel): Promise<Classifier> {
  return base.kind === 'graph' ? composeGraphClassifier(base, head) : composeClassifier(base, head)
}

interface LayerJson {
  name: string
  class_name: string
  config: Record<string, unknown>
  /** Keras functional form: one entry per call, each a list of [layer, node, tensor, kwargs]. */
  inbound_nodes: [string, number, number, Record<string, unknown>][][]
}
interface FunctionalJson {
  class_name: string
  config: { name: string; layers: LayerJson[]; input_layers: unknown[]; output_layers: [string, number, number][] }
  [key: string]: unknown
}

/**
 * One self-contained classifier: preprocessed image `[n, s, s, 3]` → class probabilities `[n, classes]`.
 * Built by splicing the head's serialized layers onto the trunk's and loading the result, so the returned
 * model owns copies of all weights: disposing it leaves `base` and `head` usable, and vice versa. (Applying
 * the head to the trunk's symbolic output would share variables and tie the three lifetimes together.)
 * @param head a single-input functional LayersModel on `[n, base.featureSize]`, e.g. from `trainHead`
 */
export async function composeClassifier(base: LayersBase, head: tf.LayersModel): Promise<tf.LayersModel> {
  const trunk = await toArtifacts(base.trunk)
  const top = await toArtifacts(head)
  const trunkJson = trunk.modelTopology as FunctionalJson
  const headJson = top.modelTopology as FunctionalJson
  const [trunkOut] = trunkJson.config.output_layers
  const headInputs = headJson.config.input_layers as [string, number, number][]
  if (!trunkOut || headJson.config.output_layers.length !== 1 || headInputs.length !== 1 || trunkJson.config.output_layers.length !== 1) {
    throw new Error('composeClassifier needs a single-output trunk and a single-input, single-output functional head')
  }
  const headInput = headInputs[0]![0]
  const names = new Set(trunkJson.config.layers.map((l) => l.name))
  const spliced = headJson.config.layers
    .filter((l) => l.name !== headInput)
    .map((l): LayerJson => {
      if (names.has(l.name)) throw new Error(`head layer '${l.name}' clashes with a trunk layer`)
      return {
        ...l,
        inbound_nodes: l.inbound_nodes.map((node) =>
          node.map(([name, nodeIndex, tensorIndex, kwargs]) =>
            name === headInput ? ([trunkOut[0], trunkOut[1], trunkOut[2], kwargs] as const) : ([name, nodeIndex, tensorIndex, kwargs] as const),
          ),
        ),
      }
    })
  const topology: FunctionalJson = {
    ...trunkJson,
    config: {
      ...trunkJson.config,
      name: 'classifier',
      layers: [...trunkJson.config.layers, ...spliced],
      output_layers: headJson.config.output_layers,
    },
  }
  const weightData = tf.io.concatenateArrayBuffers([
    tf.io.CompositeArrayBuffer.join(trunk.weightData ?? new ArrayBuffer(0)),
    tf.io.CompositeArrayBuffer.join(top.weightData ?? new ArrayBuffer(0)),
  ])
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: topology as unknown as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: [...(trunk.weightSpecs ?? []), ...(top.weightSpecs ?? [])],
      weightData,
    }),
  )
}
