import * as tf from '@tensorflow/tfjs'
import type { GraphBase } from './bases.js'
import type { GraphNode, GraphTopology } from './graph-base.js'
import { HEAD_LAYERS, NORM_EPSILON } from './train.js'

/** The output node of a composed classifier: `[n, classes]` softmax probabilities. */
export const PROBS_NODE = 'imagetune/probs'

const FLOAT = { type: 'DT_FLOAT' }

/**
 * One self-contained GraphModel: raw image `[n, s, s, 3]` (preprocessed as the base wants) → probabilities
 * `[n, classes]` at `PROBS_NODE`, also the signature's only output, so `model.predict(x)` returns it in Node and
 * in a browser alike. The base graph is pruned to the ancestors of its feature node (a detector's own head and
 * its weights are dropped), then the pooling and the head are appended as graph ops: Mean over H and W, the
 * frozen standardisation (Sub, Mul), the hidden Dense (MatMul, Add, Relu) when there is one, the output Dense and
 * Softmax. Dropout is inert at inference and left out. The model owns its weights: `base` and `head` stay usable.
 * @param head a head from `trainHead` (layers named as in HEAD_LAYERS)
 */
export async function composeGraphClassifier(base: GraphBase, head: tf.LayersModel): Promise<tf.GraphModel> {
  const topology = base.graph.modelTopology as GraphTopology
  const kept = ancestors(topology.node, base.featureLayer)
  const nodes = topology.node.filter((n) => kept.has(n.name))
  const consts: tf.NamedTensorMap = {}
  const baseWeights = tf.io.decodeWeights(base.graph.weightData!, base.graph.weightSpecs ?? [])
  try {
    for (const n of nodes) if (n.op === 'Const' && baseWeights[n.name]) consts[n.name] = baseWeights[n.name]!
    const added: GraphNode[] = []
    const constant = (name: string, value: tf.Tensor) => {
      consts[name] = value
      added.push({ name, op: 'Const', attr: { dtype: { type: value.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: value.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: value.shape.map((s) => ({ size: String(s) })) } } } } })
      return name
    }
    const op = (name: string, kind: string, inputs: string[], attr: Record<string, unknown> = {}) => {
      added.push({ name, op: kind, input: inputs, attr: { T: FLOAT, ...attr } })
      return name
    }
    const layer = (name: string) => head.layers.find((l) => l.name === name)
    const owned: tf.Tensor[] = []
    const keep = <T extends tf.Tensor>(t: T) => (owned.push(t), t)
    try {
      let x = op('imagetune/pool', 'Mean', [base.featureLayer, constant('imagetune/pool/axes', keep(tf.tensor1d([1, 2], 'int32')))], { keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } })
      const norm = layer(HEAD_LAYERS.norm)
      if (norm) {
        const [mean, variance] = norm.getWeights()
        const scale = keep(tf.tidy(() => tf.rsqrt(tf.add(variance!, NORM_EPSILON))))
        x = op('imagetune/norm/centred', 'Sub', [x, constant('imagetune/norm/mean', mean!)])
        x = op('imagetune/norm', 'Mul', [x, constant('imagetune/norm/scale', scale)])
      }
      const dense = (name: string, input: string, prefix: string) => {
        const [kernel, bias] = layer(name)!.getWeights()
        const product = op(`${prefix}/matmul`, 'MatMul', [input, constant(`${prefix}/kernel`, kernel!)], { transpose_a: { b: false }, transpose_b: { b: false } })
        return op(`${prefix}/biased`, 'Add', [product, constant(`${prefix}/bias`, bias!)])
      }
      if (layer(HEAD_LAYERS.hidden)) x = op('imagetune/hidden', 'Relu', [dense(HEAD_LAYERS.hidden, x, 'imagetune/hidden')])
      op(PROBS_NODE, 'Softmax', [dense(HEAD_LAYERS.output, x, 'imagetune/output')])

      const { data, specs } = await tf.io.encodeWeights(consts)
      const classes = head.outputs[0]!.shape[1]
      const signature = base.graph.signature as { inputs?: unknown } | undefined
      const artifacts: tf.io.ModelArtifacts = {
        format: 'graph-model',
        generatedBy: `imagetune: ${base.id} cut at ${base.featureLayer}, mean-pooled, + trained head`,
        convertedBy: base.graph.convertedBy ?? null,
        modelTopology: { ...topology, node: [...nodes, ...added] },
        weightSpecs: specs,
        weightData: data,
        signature: {
          inputs: signature?.inputs,
          outputs: { probs: { name: PROBS_NODE, dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: String(classes) }] } } },
        },
        // For whoever holds only model.json: what to feed it (the model's metadata.json says the same).
        userDefinedMetadata: { imagetune: { base: base.id, inputSize: base.inputSize, preprocessing: base.preprocessing, output: PROBS_NODE } },
      }
      return await tf.loadGraphModel(tf.io.fromMemory(artifacts))
    } finally {
      tf.dispose(owned)
      // Layer weights from getWeights() are the layers' own variables' values: not ours to free.
    }
  } finally {
    tf.dispose(Object.values(baseWeights))
  }
}

/** Names of `target` and every node it depends on (data and control inputs). */
function ancestors(nodes: GraphNode[], target: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const seen = new Set<string>()
  const stack = [target]
  while (stack.length > 0) {
    const name = stack.pop()!
    if (seen.has(name)) continue
    seen.add(name)
    for (const input of byName.get(name)?.input ?? []) stack.push(input.replace(/^\^/, '').replace(/:\d+$/, ''))
  }
  return seen
}
