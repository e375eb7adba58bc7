import { createHash } from 'node:crypto'
import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'

/** A trunk cut in two where one tensor separates the graph, so the top can be trained from cached activations. */
export interface TrunkSplit {
  /** The layer whose output is the cut: `below`'s output, `top`'s input. */
  cutLayer: string
  /** Frozen: image → activations at the cut. Shares the trunk's weights; dispose with the trunk, not alone. */
  below: tf.LayersModel
  /** Activations `[n, ...activationShape]` → features `[n, featureSize]`, on its own copies of the weights. */
  top: tf.LayersModel
  /** Shape of one activation (without the batch axis). */
  activationShape: number[]
  /** The top layers whose weights fine-tuning changes (BatchNormalization layers are never among them). */
  tuned: tf.layers.Layer[]
  /** Cache folder name of the activations: `<baseId>-at-<8 hex of the cut layer name>`. */
  cacheId: string
  dispose(): void
}

const FROZEN_CLASSES = new Set(['BatchNormalization'])

/** Layers that carry weights fine-tuning may change. BatchNorm keeps its ImageNet statistics (inference mode). */
function isTunable(layer: tf.layers.Layer): boolean {
  return layer.weights.length > 0 && !FROZEN_CLASSES.has(layer.getClassName())
}

/**
 * Cuts `trunk` below its top `fineTuneLayers` tunable layers (those with weights, BatchNorm excepted), at the
 * nearest point where a single tensor feeds everything above (residual blocks are never split). The top part is
 * rebuilt from the layers' configs with copied weights, so training it leaves `trunk` untouched; only the top
 * `fineTuneLayers` tunable layers are trainable there.
 * @throws AppError OPTIONS_INVALID when the trunk has fewer tunable layers or no single-tensor cut below them
 */
export function splitTrunk(trunk: tf.LayersModel, baseId: string, fineTuneLayers: number): TrunkSplit {
  const layers = trunk.layers
  const index = new Map(layers.map((l, i) => [l, i]))
  const tunable = layers.filter(isTunable)
  if (fineTuneLayers < 1 || fineTuneLayers > tunable.length) {
    throw new AppError('OPTIONS_INVALID', `fineTuneLayers must be between 1 and ${tunable.length} for this base, got ${fineTuneLayers}`)
  }
  const lowestTuned = index.get(tunable[tunable.length - fineTuneLayers]!)!
  let cut = -1
  for (let i = lowestTuned - 1; i >= 0 && cut < 0; i--) if (separates(layers, index, i)) cut = i
  if (cut < 0) throw new AppError('OPTIONS_INVALID', `no single-tensor cut below the top ${fineTuneLayers} layers of this base`)

  const cutTensor = firstNode(layers[cut]!).outputTensors[0]!
  const input = tf.input({ shape: cutTensor.shape.slice(1) as number[], name: 'imagetune_activations' })
  const mapped = new Map<number, tf.SymbolicTensor>([[cutTensor.id, input]])
  const clones: tf.layers.Layer[] = []
  const tuned: tf.layers.Layer[] = []
  const tunedOriginals = new Set(tunable.slice(tunable.length - fineTuneLayers))
  for (let j = cut + 1; j < layers.length; j++) {
    const layer = layers[j]!
    const node = firstNode(layer)
    const inputs = node.inputTensors.map((t) => mapped.get(t.id)!)
    const clone = cloneLayer(layer)
    const out = clone.apply(inputs.length === 1 ? inputs[0]! : inputs) as tf.SymbolicTensor
    // Weights exist once the clone is applied; copy the pretrained values in.
    clone.setWeights(layer.getWeights())
    clone.trainable = tunedOriginals.has(layer)
    if (clone.trainable) tuned.push(clone)
    clones.push(clone)
    mapped.set(node.outputTensors[0]!.id, out)
  }
  const output = mapped.get((trunk.outputs[0] as tf.SymbolicTensor).id)
  if (!output) throw new AppError('OPTIONS_INVALID', 'the trunk output does not depend on the cut')
  const top = tf.model({ inputs: input, outputs: output, name: 'imagetune_top' })
  const below = tf.model({ inputs: trunk.inputs, outputs: cutTensor, name: 'imagetune_below' })
  const cutLayer = layers[cut]!.name
  return {
    cutLayer,
    below,
    top,
    activationShape: cutTensor.shape.slice(1) as number[],
    tuned,
    cacheId: `${baseId}-at-${createHash('sha256').update(cutLayer).digest('hex').slice(0, 8)}`,
    dispose: () => top.dispose(),
  }
}

function firstNode(layer: tf.layers.Layer) {
  const node = layer.inboundNodes[0]
  if (!node) throw new AppError('OPTIONS_INVALID', `layer ${layer.name} is not connected`)
  return node
}

/** True when every layer after `i` reads only from layers at or after `i`, and `i` has one output. */
function separates(layers: tf.layers.Layer[], index: Map<tf.layers.Layer, number>, i: number): boolean {
  if (firstNode(layers[i]!).outputTensors.length !== 1) return false
  for (let j = i + 1; j < layers.length; j++) {
    for (const from of firstNode(layers[j]!).inboundLayers) if (index.get(from)! < i) return false
  }
  return true
}

function cloneLayer(layer: tf.layers.Layer): tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()]
  if (!entry) throw new AppError('OPTIONS_INVALID', `cannot copy layer ${layer.name} (${layer.getClassName()})`)
  const [cls, fromConfig] = entry
  return fromConfig(cls, layer.getConfig()) as unknown as tf.layers.Layer
}
