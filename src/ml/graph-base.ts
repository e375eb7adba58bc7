import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'

/** One node of a tfjs graph-model topology (TensorFlow's NodeDef as JSON). */
export interface GraphNode {
  name: string
  op: string
  input?: string[]
  attr?: Record<string, unknown>
  device?: string
}

/** The parts of a `graph-model` model.json topology this module reads and writes. */
export interface GraphTopology {
  node: GraphNode[]
  library?: unknown
  versions?: unknown
}

/**
 * A frozen GraphModel cut at one node: what a GraphModel base is, for any graph (built-in or uploaded).
 * Owns its tensors: call `dispose()` once.
 */
export interface GraphTrunk {
  /** The graph as loaded, input placeholder rewritten to `[-1, -1, -1, 3]`: what export composes the head onto. */
  artifacts: tf.io.ModelArtifacts
  featureNode: string
  /** Channels of the feature node, i.e. the length of one pooled vector. */
  featureSize: number
  /** `[n, s, s, 3]` preprocessed images → `[n, featureSize]`: executes to `featureNode`, mean-pools H and W. Caller disposes. */
  embed(x: tf.Tensor4D): tf.Tensor2D
  dispose(): void
}

/**
 * Loads a tfjs GraphModel as a feature extractor: the graph runs only up to `featureNode` (nodes past it, e.g. a
 * detection head, are never executed), whose `[n, h, w, c]` map is mean-pooled to `[n, c]`.
 * Converted graphs often pin the input placeholder to the batch and size they were exported with (e.g.
 * `[1, 512, 512, 3]`); the placeholder is rewritten to `[-1, -1, -1, 3]` so any batch and input size run, and a
 * batch gives the same features as its images one by one.
 * @param handler where the model.json and weights come from (file handler, `tf.io.http`, `tf.io.fromMemory`)
 * @param inputSize side of the square input the base is fed, used to warm it up and to measure the feature size
 * @throws AppError BASE_MODEL_INVALID when its files cannot be read, it is not a graph model, has no single image
 *   placeholder, no such node, or the node's output is not `[n, h, w, c]`
 */
export async function loadGraphTrunk(handler: tf.io.IOHandler, featureNode: string, inputSize: number): Promise<GraphTrunk> {
  if (!handler.load) throw new AppError('BASE_MODEL_INVALID', 'the base model handler cannot load')
  const loaded = await handler.load().catch((err: unknown) => {
    throw new AppError('BASE_MODEL_INVALID', `cannot read the base graph: ${err instanceof Error ? err.message : String(err)}`)
  })
  if (loaded.format !== 'graph-model') throw new AppError('BASE_MODEL_INVALID', `expected a graph-model, got '${loaded.format ?? 'unknown'}'`)
  const artifacts = withFreeInputShape(loaded)
  const topology = artifacts.modelTopology as GraphTopology
  if (!topology.node.some((n) => n.name === featureNode)) throw new AppError('BASE_MODEL_INVALID', `base graph has no node '${featureNode}'`)

  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts))
  const embed = (x: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const map = model.execute(x, featureNode) as tf.Tensor
      if (map.rank !== 4) throw new AppError('BASE_MODEL_INVALID', `node '${featureNode}' gives rank ${map.rank}, expected [n, h, w, c]`)
      return tf.mean(map, [1, 2]) as tf.Tensor2D
    })
  let featureSize: number
  try {
    // Warm-up (kernels compiled, heap grown) that also tells the feature size.
    featureSize = tf.tidy(() => embed(tf.zeros([1, inputSize, inputSize, 3])).shape[1])
  } catch (err) {
    model.dispose()
    if (err instanceof AppError) throw err
    throw new AppError('BASE_MODEL_INVALID', `base graph does not run to '${featureNode}' at ${inputSize} px: ${err instanceof Error ? err.message : String(err)}`)
  }
  return { artifacts, featureNode, featureSize, embed, dispose: () => model.dispose() }
}

/**
 * A copy of graph-model artifacts whose single float image placeholder takes any batch, height and width.
 * @throws AppError BASE_MODEL_INVALID unless there is exactly one placeholder, of rank 4 with 3 channels
 */
export function withFreeInputShape(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const topology = artifacts.modelTopology as GraphTopology | undefined
  const placeholders = topology?.node?.filter((n) => n.op === 'Placeholder') ?? []
  if (!topology || placeholders.length !== 1) throw new AppError('BASE_MODEL_INVALID', `base graph must have one input placeholder, found ${placeholders.length}`)
  const input = placeholders[0]!
  const dims = (input.attr?.shape as { shape?: { dim?: { size: string }[] } } | undefined)?.shape?.dim
  if (dims && (dims.length !== 4 || Number(dims[3]!.size) !== 3)) {
    throw new AppError('BASE_MODEL_INVALID', `base input '${input.name}' must be [n, h, w, 3], got [${dims.map((d) => d.size).join(', ')}]`)
  }
  const free = { dim: [{ size: '-1' }, { size: '-1' }, { size: '-1' }, { size: '3' }] }
  const node = topology.node.map((n) => (n === input ? { ...n, attr: { ...n.attr, shape: { shape: free } } } : n))
  // The signature repeats the pinned shape, and the loader trusts it when present.
  const signature = artifacts.signature as { inputs?: Record<string, { tensorShape?: unknown }> } | undefined
  const inputs = signature?.inputs && Object.fromEntries(Object.entries(signature.inputs).map(([k, v]) => [k, { ...v, tensorShape: free }]))
  return { ...artifacts, modelTopology: { ...topology, node }, ...(signature ? { signature: { ...signature, inputs } } : {}) }
}
