import { seededRandom } from '../../src/ml/random.js'

/** GraphDef attrs hold strings base64-encoded. */
const b64 = (s: string) => Buffer.from(s).toString('base64')
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) })
const WEIGHTS = 'group1-shard1of1.bin'

/**
 * A tiny tfjs GraphModel written as the converter would: `input` [-1, size, size, 3] → `conv` (3×3, 8 filters,
 * stride 2, seeded weights) → `relu` (the feature node, [n, h, w, 8]) → `Identity`. No TensorFlow needed.
 * @returns the files, model.json and one weight shard, to zip
 */
export function tinyGraphModel(size: number): { path: string; data: Buffer }[] {
  const random = seededRandom(5)
  const filter = Float32Array.from({ length: 3 * 3 * 3 * 8 }, () => random() - 0.5)
  const float = { type: 'DT_FLOAT' }
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'imagetune tests',
    convertedBy: 'hand-written',
    modelTopology: {
      node: [
        { name: 'input', op: 'Placeholder', attr: { dtype: float, shape: { shape: dims([-1, size, size, 3]) } } },
        { name: 'conv/filter', op: 'Const', attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims([3, 3, 3, 8]) } } } },
        {
          name: 'conv',
          op: 'Conv2D',
          input: ['input', 'conv/filter'],
          attr: { T: float, strides: { list: { i: ['1', '2', '2', '1'] } }, padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } } },
        },
        { name: 'relu', op: 'Relu', input: ['conv'], attr: { T: float } },
        { name: 'Identity', op: 'Identity', input: ['relu'], attr: { T: float } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: [WEIGHTS], weights: [{ name: 'conv/filter', shape: [3, 3, 3, 8], dtype: 'float32' }] }],
  }
  return [
    { path: 'model.json', data: Buffer.from(JSON.stringify(modelJson)) },
    { path: WEIGHTS, data: Buffer.from(filter.buffer) },
  ]
}
