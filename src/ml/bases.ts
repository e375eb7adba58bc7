import { createHash } from 'node:crypto'
import { access } from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { AppError } from '../errors.js'
import { publishDir, writeFileAtomic, writeJsonAtomic } from '../storage/atomic.js'
import { safeJoin } from '../storage/layout.js'
import { compileFastTrunk } from './fast-trunk.js'
import { MODEL_FILE, WEIGHTS_FILE, fileLoadHandler } from './file-io.js'
import type { Preprocessing } from './image.js'

export type BuiltinBaseId = 'mobilenet_v2' | 'inception_v3'

/**
 * Which pretrained network to cut: a bundled one, or any tfjs LayersModel by `model.json` URL (http/https/file)
 * or path. `inputSize` defaults to the model's input shape, `featureLayer` to its pooled/flattened layer,
 * `preprocessing` to 'scale_0_1'.
 */
export type BaseModelRef =
  | BuiltinBaseId
  | { url: string; inputSize?: number; featureLayer?: string; preprocessing?: Preprocessing }

/** A loaded feature extractor. Owns its tensors: call `dispose()` once, and never dispose `trunk` itself. */
export interface Base {
  /** 'mobilenet_v2', 'inception_v3' or 'url-<16 hex of sha256(url)>'; names the feature cache folder. */
  id: string
  /** Side of the square input in pixels. */
  inputSize: number
  /** Length of one feature vector. */
  featureSize: number
  preprocessing: Preprocessing
  /** Name of the layer the trunk ends at. */
  featureLayer: string
  /** Frozen: image `[n, inputSize, inputSize, 3]` (preprocessed) → features `[n, featureSize]`. */
  trunk: tf.LayersModel
  /**
   * The trunk's forward pass, `[n, inputSize, inputSize, 3]` → `[n, featureSize]`: on fused ops (see
   * `compileFastTrunk`) when the trunk is made of layers it knows, else `trunk.predict`. The caller disposes the result.
   */
  embed(x: tf.Tensor4D): tf.Tensor2D
  dispose(): void
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
const BUILTINS: Record<BuiltinBaseId, Builtin> = {
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
export const BUILTIN_BASE_IDS = Object.keys(BUILTINS) as BuiltinBaseId[]

export function isBuiltinBase(value: unknown): value is BuiltinBaseId {
  return typeof value === 'string' && Object.hasOwn(BUILTINS, value)
}

/** The id a ref's base gets; custom bases are keyed by a hash of their URL. */
export function baseId(ref: BaseModelRef): string {
  if (typeof ref === 'string') return ref
  return `url-${createHash('sha256').update(ref.url).digest('hex').slice(0, 16)}`
}

/**
 * Loads a base and cuts it at its feature layer. Built-ins are extracted from the nsfwjs package once into
 * `<basesDir>/<id>/` (model.json + weights.bin, published atomically; two racing processes are fine) and read
 * from there. The result is warmed up (one prediction) so the first real batch is not slow.
 * @throws AppError BASE_MODEL_INVALID for an unknown id, an unreadable or non-Layers model, a bad layer.
 */
export async function loadBase(ref: BaseModelRef, basesDir: string): Promise<Base> {
  const id = baseId(ref)
  let full: tf.LayersModel
  let declared: { inputSize?: number | undefined; featureLayer?: string | undefined; preprocessing: Preprocessing }
  if (typeof ref === 'string') {
    const builtin = BUILTINS[ref]
    if (!builtin) throw new AppError('BASE_MODEL_INVALID', `unknown base model '${String(ref)}'`)
    const dir = safeJoin(basesDir, id)
    await ensureExtracted(builtin, dir)
    full = await tf.loadLayersModel(fileLoadHandler(path.join(dir, MODEL_FILE)))
    declared = builtin
  } else {
    full = await loadCustom(ref.url)
    declared = { inputSize: ref.inputSize, featureLayer: ref.featureLayer, preprocessing: ref.preprocessing ?? 'scale_0_1' }
  }
  try {
    return cut(id, full, declared)
  } catch (err) {
    full.dispose()
    throw err
  }
}

function cut(
  id: string,
  full: tf.LayersModel,
  declared: { inputSize?: number | undefined; featureLayer?: string | undefined; preprocessing: Preprocessing },
): Base {
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

async function loadCustom(url: string): Promise<tf.LayersModel> {
  let handler: tf.io.IOHandler | string
  if (/^https?:\/\//i.test(url)) handler = url
  else if (/^file:\/\//i.test(url)) handler = fileLoadHandler(new URL(url).pathname)
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new AppError('BASE_MODEL_INVALID', `unsupported base URL scheme: ${url}`)
  else handler = fileLoadHandler(path.resolve(url))
  try {
    return await tf.loadLayersModel(handler)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    const hint = /GraphModel|modelTopology|className|class_name/i.test(why) ? ' (only tfjs LayersModel files are supported, not GraphModels)' : ''
    throw new AppError('BASE_MODEL_INVALID', `cannot load base model from ${url}: ${why}${hint}`)
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

