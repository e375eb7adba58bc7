import { createHash } from 'node:crypto'
import { access } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'
import { publishDir, writeFileAtomic, writeJsonAtomic } from '../atomic-write.js'
import { compileFastTrunk } from './fast-trunk.js'
import { MODEL_FILE, WEIGHTS_FILE, fileLoadHandler } from './file-io.js'
import { loadGraphTrunk } from './graph-base.js'
import type { Preprocessing } from '../contract/jobs.js'

/** Bundled Keras (LayersModel) bases: fine-tunable, exported as one LayersModel. */
export type LayersBuiltinId = 'mobilenet_v2' | 'inception_v3'
/** Bundled GraphModel bases: head-only training, exported as one GraphModel. */
export type GraphBuiltinId = 'mobilenet_v3_coco'
export type BuiltinBaseId = LayersBuiltinId | GraphBuiltinId

/** A LayersModel or GraphModel by `model.json` URL or path; see `BaseModelRef`. */
export type UrlBaseRef = {
  url: string
  inputSize?: number
  featureLayer?: string
  preprocessing?: Preprocessing
  /**
   * What names the model's content wherever it is loaded from, for `baseId` in place of `url`: an uploaded base is
   * read from each worker's own DATA_DIR, and its features must still share one cache folder across workers.
   */
  contentKey?: string
}

/**
 * Which pretrained network to cut: a bundled one, or any tfjs model by `model.json` URL (http/https/file) or path.
 * A LayersModel: `inputSize` defaults to the model's input shape, `featureLayer` to its pooled/flattened layer.
 * A GraphModel (`format: 'graph-model'`): `featureLayer` names the node to pool and `inputSize` is required.
 * `preprocessing` defaults to 'scale_0_1'.
 */
export type BaseModelRef = BuiltinBaseId | UrlBaseRef

interface BaseCommon {
  /** 'mobilenet_v2', 'inception_v3', 'mobilenet_v3_coco' or 'url-<16 hex>' (see `baseId`); names the feature cache folder. */
  id: string
  /** Side of the square input in pixels. */
  inputSize: number
  /** Length of one feature vector. */
  featureSize: number
  preprocessing: Preprocessing
  /** Name of the layer (LayersModel) or graph node (GraphModel) the trunk ends at. */
  featureLayer: string
  /**
   * The trunk's forward pass, `[n, inputSize, inputSize, 3]` → `[n, featureSize]`: on fused ops (see
   * `compileFastTrunk`) when the trunk is made of layers it knows, else `trunk.predict`; a graph base executes to
   * its node and mean-pools. The caller disposes the result.
   */
  embed(x: tf.Tensor4D): tf.Tensor2D
  dispose(): void
}

/** A feature extractor cut from a LayersModel. Owns its tensors: call `dispose()` once, and never dispose `trunk` itself. */
export interface LayersBase extends BaseCommon {
  kind: 'layers'
  /** Frozen: image `[n, inputSize, inputSize, 3]` (preprocessed) → features `[n, featureSize]`. */
  trunk: tf.LayersModel
}

/** A feature extractor cut from a frozen GraphModel at a node: head-only training. */
export interface GraphBase extends BaseCommon {
  kind: 'graph'
  /** The graph as loaded (input placeholder free), which export composes the head onto. */
  graph: tf.io.ModelArtifacts
}

/** A loaded feature extractor. Owns its tensors: call `dispose()` once. */
export type Base = LayersBase | GraphBase

/**
 * The bundled GraphModel bases. `mobilenet_v3_coco`: the MobileNetV3-CenterNet object detector of the
 * `@vladmandic/human` package (MIT), trained on COCO; its backbone's last feature map (480 channels, before the
 * CenterNet head) mean-pooled is a general image embedding. Measured (docs/benchmarks.md, linear probe on emoji
 * drawings): 320 px 0.813 = 416 px 0.813 > 224 px 0.787, so 320 at 59% of 416's pixels; raw 0–255 RGB (the graph
 * normalises inside; pixels scaled to [0, 1] give 0.673).
 */
const GRAPH_BUILTINS: Record<GraphBuiltinId, { modelJson: () => string; featureNode: string; inputSize: number; preprocessing: Preprocessing }> = {
  mobilenet_v3_coco: {
    modelJson: () => humanModelFile('centernet.json'),
    featureNode: 'tower_0/extern1/hard_swish/mul_1',
    inputSize: 320,
    preprocessing: 'raw_0_255',
  },
}

/** A model file shipped in `@vladmandic/human/models/` (its package exports hide the folder from `import`). */
function humanModelFile(name: string): string {
  const entry = createRequire(import.meta.url).resolve('@vladmandic/human') // <pkg>/dist/human.node.js
  return path.join(path.dirname(entry), '..', 'models', name)
}

interface Builtin {
  /** The nsfwjs export, loaded lazily: most processes never need InceptionV3's 6 bundles. */
  load(): Promise<{ modelJson(): Promise<{ default: unknown }>; weightBundles: (() => Promise<{ default: unknown }>)[] }>
  inputSize: number
  featureLayer: string
  preprocessing: Preprocessing
}

/**
 * The bundled bases: nsfwjs's Keras models, whose own 5-class head (dense_1..dense_3) we cut off at the
 * flattened global average pool. nsfwjs feeds both pixels divided by 255.
 */
const BUILTINS: Record<LayersBuiltinId, Builtin> = {
  mobilenet_v2: {
    load: async () => (await import('nsfwjs/models/mobilenet_v2')).MobileNetV2Model as never,
    inputSize: 224,
    featureLayer: 'flatten_1', // out_relu → average_pooling2d_1 → flatten_1: 1280-d
    preprocessing: 'scale_0_1',
  },
  inception_v3: {
    load: async () => (await import('nsfwjs/models/inception_v3')).InceptionV3Model as never,
    inputSize: 299,
    featureLayer: 'flatten_1', // mixed10 → average_pooling2d_10 → flatten_1: 2048-d
    preprocessing: 'scale_0_1',
  },
}

/** The bundled bases' ids. */
export const BUILTIN_BASE_IDS = [...Object.keys(BUILTINS), ...Object.keys(GRAPH_BUILTINS)] as BuiltinBaseId[]

export function isBuiltinBase(value: unknown): value is BuiltinBaseId {
  return typeof value === 'string' && (Object.hasOwn(BUILTINS, value) || Object.hasOwn(GRAPH_BUILTINS, value))
}

/**
 * The id a ref's base gets, which names its feature cache folder; custom bases are keyed by a hash of their URL and
 * of what changes their features (cut layer or node, input size, scaling), so two cuts of one file never share a cache.
 */
export function baseId(ref: BaseModelRef): string {
  if (typeof ref === 'string') return ref
  const key = JSON.stringify([ref.contentKey ?? ref.url, ref.featureLayer ?? null, ref.inputSize ?? null, ref.preprocessing ?? 'scale_0_1'])
  return `url-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`
}

/**
 * Loads a base and cuts it at its feature layer (or node). nsfwjs built-ins are extracted from the package once
 * into `<basesDir>/<id>/` (model.json + weights.bin, published atomically; two racing processes are fine) and read
 * from there; `mobilenet_v3_coco` is read in place from `@vladmandic/human`. A model by URL or path is a GraphModel
 * base when its model.json says `format: 'graph-model'`, else a LayersModel base. The result is warmed up (one
 * prediction) so the first real batch is not slow.
 * @throws AppError BASE_MODEL_INVALID for an unknown id, an unreadable model, a bad layer or node, a GraphModel
 *   without featureLayer and inputSize
 */
export async function loadBase(ref: LayersBuiltinId, basesDir: string): Promise<LayersBase>
export async function loadBase(ref: GraphBuiltinId, basesDir: string): Promise<GraphBase>
export async function loadBase(ref: BaseModelRef, basesDir: string): Promise<Base>
export async function loadBase(ref: BaseModelRef, basesDir: string): Promise<Base> {
  const id = baseId(ref)
  let full: tf.LayersModel
  let declared: { inputSize?: number | undefined; featureLayer?: string | undefined; preprocessing: Preprocessing }
  if (typeof ref === 'string' && Object.hasOwn(GRAPH_BUILTINS, ref)) {
    const graph = GRAPH_BUILTINS[ref as GraphBuiltinId]
    return loadGraphBase(id, fileLoadHandler(graph.modelJson()), graph)
  } else if (typeof ref === 'string') {
    const builtin = BUILTINS[ref as LayersBuiltinId]
    if (!builtin) throw new AppError('BASE_MODEL_INVALID', `unknown base model '${String(ref)}'`)
    const dir = path.join(basesDir, id) // a built-in's id (checked above), not a user's name
    await ensureExtracted(builtin, dir)
    full = await tf.loadLayersModel(fileLoadHandler(path.join(dir, MODEL_FILE)))
    declared = builtin
  } else {
    const handler = customHandler(ref.url)
    const artifacts = await loadArtifacts(handler, ref.url)
    const preprocessing = ref.preprocessing ?? 'scale_0_1'
    if (artifacts.format === 'graph-model') {
      if (!ref.featureLayer || !ref.inputSize) throw new AppError('BASE_MODEL_INVALID', 'a GraphModel base needs featureLayer (the node to pool) and inputSize')
      return loadGraphBase(id, tf.io.fromMemory(artifacts), { featureNode: ref.featureLayer, inputSize: ref.inputSize, preprocessing })
    }
    full = await loadCustom(artifacts, ref.url)
    declared = { inputSize: ref.inputSize, featureLayer: ref.featureLayer, preprocessing }
  }
  try {
    return cut(id, full, declared)
  } catch (err) {
    full.dispose()
    throw err
  }
}

/**
 * A GraphModel base: any graph with one image placeholder, cut at `featureNode` and mean-pooled (see
 * `loadGraphTrunk`). Issue-16-style uploaded bases come through here with their own handler.
 */
export async function loadGraphBase(
  id: string,
  handler: tf.io.IOHandler,
  spec: { featureNode: string; inputSize: number; preprocessing: Preprocessing },
): Promise<GraphBase> {
  const trunk = await loadGraphTrunk(handler, spec.featureNode, spec.inputSize)
  let disposed = false
  return {
    kind: 'graph',
    id,
    inputSize: spec.inputSize,
    featureSize: trunk.featureSize,
    preprocessing: spec.preprocessing,
    featureLayer: spec.featureNode,
    graph: trunk.artifacts,
    embed: trunk.embed,
    dispose() {
      if (disposed) return
      disposed = true
      trunk.dispose()
    },
  }
}

function cut(
  id: string,
  full: tf.LayersModel,
  declared: { inputSize?: number | undefined; featureLayer?: string | undefined; preprocessing: Preprocessing },
): LayersBase {
  const inputShape = full.inputs[0]?.shape
  if (full.inputs.length !== 1 || inputShape?.length !== 4 || inputShape[3] !== 3) {
    throw new AppError('BASE_MODEL_INVALID', `base must take one image input [n,h,w,3], got ${JSON.stringify(full.inputs.map((i) => i.shape))}`)
  }
  const [, h, w] = inputShape
  if (h != null && w != null && h !== w) throw new AppError('BASE_MODEL_INVALID', `base input must be square, got ${h}x${w}`)
  const inputSize = declared.inputSize ?? h ?? undefined
  if (inputSize == null || !Number.isInteger(inputSize) || inputSize < 8) {
    throw new AppError('BASE_MODEL_INVALID', 'base input size is not fixed by the model: declare inputSize')
  }
  if (h != null && h !== inputSize) throw new AppError('BASE_MODEL_INVALID', `declared inputSize ${inputSize} ≠ model input ${h}`)

  const layerName = declared.featureLayer ?? defaultFeatureLayer(full)
  let layer: tf.layers.Layer
  try {
    layer = full.getLayer(layerName)
  } catch {
    throw new AppError('BASE_MODEL_INVALID', `base has no layer '${layerName}'`)
  }
  let output = layer.output as tf.SymbolicTensor
  if (Array.isArray(output)) throw new AppError('BASE_MODEL_INVALID', `layer '${layerName}' has several outputs`)
  if (output.shape.length === 4) {
    // A convolutional cut: pool it to one vector per image.
    output = tf.layers.globalAveragePooling2d({ name: `${layerName}_imagetune_pool` }).apply(output) as tf.SymbolicTensor
  }
  const featureSize = output.shape[1]
  if (output.shape.length !== 2 || featureSize == null) {
    throw new AppError('BASE_MODEL_INVALID', `feature layer '${layerName}' output ${JSON.stringify(output.shape)} is not [n,d] or [n,h,w,c]`)
  }
  const trunk = tf.model({ inputs: full.inputs, outputs: output, name: `${id}_trunk` })
  for (const l of trunk.layers) l.trainable = false
  const fast = compileFastTrunk(trunk)
  const embed = 'trunk' in fast ? (x: tf.Tensor4D) => fast.trunk.predict(x) as tf.Tensor2D : (x: tf.Tensor4D) => trunk.predict(x) as tf.Tensor2D
  tf.tidy(() => {
    embed(tf.zeros([1, inputSize, inputSize, 3])) // warm-up: kernels compiled, heap grown
  })
  let disposed = false
  return {
    kind: 'layers',
    id,
    inputSize,
    featureSize,
    preprocessing: declared.preprocessing,
    featureLayer: layerName,
    trunk,
    embed,
    dispose() {
      if (disposed) return
      disposed = true
      if ('trunk' in fast) fast.trunk.dispose()
      // The trunk shares the full model's layers; disposing the full model frees every weight exactly once.
      full.dispose()
    },
  }
}

/**
 * The last global-pooling or flatten layer with a rank-2 output (where a classifier head usually starts);
 * failing that, the input of the final Dense layer.
 */
export function defaultFeatureLayer(model: tf.LayersModel): string {
  const layers = model.layers
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!
    const cls = l.getClassName()
    if (/^(Flatten|GlobalAveragePooling2D|GlobalMaxPooling2D)$/.test(cls) && rank(l.output) === 2) return l.name
  }
  for (let i = layers.length - 1; i > 0; i--) {
    if (layers[i]!.getClassName() !== 'Dense') continue
    for (let j = i - 1; j >= 0; j--) if (rank(layers[j]!.output) === 2 && layers[j]!.getClassName() !== 'Dense') return layers[j]!.name
  }
  throw new AppError('BASE_MODEL_INVALID', 'cannot find a feature layer (no pooling/flatten layer): declare featureLayer')
}

function rank(output: tf.SymbolicTensor | tf.SymbolicTensor[]): number {
  return Array.isArray(output) ? -1 : output.shape.length
}

function customHandler(url: string): tf.io.IOHandler {
  if (/^https?:\/\//i.test(url)) return tf.io.http(url)
  if (/^file:\/\//i.test(url)) return fileLoadHandler(new URL(url).pathname)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new AppError('BASE_MODEL_INVALID', `unsupported base URL scheme: ${url}`)
  return fileLoadHandler(path.resolve(url))
}

/** Reads a model's files once, so its format decides how it is loaded. */
async function loadArtifacts(handler: tf.io.IOHandler, url: string): Promise<tf.io.ModelArtifacts> {
  try {
    return await handler.load!()
  } catch (err) {
    throw new AppError('BASE_MODEL_INVALID', `cannot load base model from ${url}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

async function loadCustom(artifacts: tf.io.ModelArtifacts, url: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts))
  } catch (err) {
    throw new AppError('BASE_MODEL_INVALID', `cannot load base model from ${url}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** Writes `<dir>/model.json + weights.bin` from the nsfwjs bundle unless already there. */
async function ensureExtracted(builtin: Builtin, dir: string): Promise<void> {
  if (await exists(path.join(dir, MODEL_FILE))) return
  const pkg = await builtin.load()
  const json = (await pkg.modelJson()).default as { modelTopology: unknown; weightsManifest: tf.io.WeightsManifestConfig }
  const parts: Buffer[] = []
  for (const bundle of pkg.weightBundles) parts.push(Buffer.from((await bundle()).default as string, 'base64'))
  const manifest = [{ paths: [WEIGHTS_FILE], weights: json.weightsManifest.flatMap((g) => g.weights) }]
  try {
    await publishDir(dir, async (staging) => {
      await writeFileAtomic(path.join(staging, WEIGHTS_FILE), Buffer.concat(parts))
      await writeJsonAtomic(path.join(staging, MODEL_FILE), {
        format: 'layers-model',
        generatedBy: 'nsfwjs bundle, extracted by imagetune',
        convertedBy: null,
        modelTopology: json.modelTopology,
        weightsManifest: manifest,
      })
    })
  } catch (err) {
    // Another process published it first: its copy is as good as ours.
    if (!(await exists(path.join(dir, MODEL_FILE)))) throw err
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  )
}

