import { readFile } from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'

/** The one weights file every model folder we write holds, next to `model.json`. */
export const WEIGHTS_FILE = 'weights.bin'
export const MODEL_FILE = 'model.json'

/**
 * A tfjs load handler for a `model.json` on the local disk (no tfjs-node): reads the JSON and every weight file
 * its manifest names, relative to it, and hands them over as one buffer in manifest order.
 */
export function fileLoadHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON
      const dir = path.dirname(modelJsonPath)
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights)
        const parts: Uint8Array[] = []
        for (const group of manifest) {
          for (const p of group.paths) parts.push(await readFile(path.resolve(dir, decodeURIComponent(p))))
        }
        return [specs, toArrayBuffer(Buffer.concat(parts))]
      })
    },
  }
}

/** The model.json tfjs writes for `artifacts`, with one weights file: `WEIGHTS_FILE`. */
function modelJsonFor(artifacts: tf.io.ModelArtifacts): tf.io.ModelJSON {
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
  }
  if (artifacts.trainingConfig !== undefined) json.trainingConfig = artifacts.trainingConfig
  if (artifacts.userDefinedMetadata !== undefined) json.userDefinedMetadata = artifacts.userDefinedMetadata
  // A GraphModel's signature names its input and output nodes (`model.predict` uses it).
  if (artifacts.signature !== undefined) json.signature = artifacts.signature
  return json
}

const weightBytes = (artifacts: tf.io.ModelArtifacts) =>
  new Uint8Array(artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData))

/**
 * A tfjs load handler over bytes already in memory (e.g. an uploaded model.json and its weight files): `files` maps
 * each path the manifest names to its bytes.
 * @throws Error naming a weight file the manifest lists and `files` lacks
 */
export function bytesLoadHandler(modelJson: string | Uint8Array, files: Readonly<Record<string, Uint8Array>>): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(typeof modelJson === 'string' ? modelJson : Buffer.from(modelJson).toString('utf8')) as tf.io.ModelJSON
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const parts = manifest.flatMap((group) =>
          group.paths.map((p) => {
            const bytes = files[p] ?? files[decodeURIComponent(p)]
            if (!bytes) throw new Error(`weight file '${p}' is missing`)
            return bytes
          }),
        )
        return [manifest.flatMap((group) => group.weights), toArrayBuffer(Buffer.concat(parts))]
      })
    },
  }
}

/**
 * A model as the bytes of its files (`model.json` + `weights.bin`), the form the store keeps and a browser
 * loads from `GET /models/:id/model.json`. A GraphModel's model.json says `format: 'graph-model'`.
 */
export async function modelToFiles(model: tf.LayersModel | tf.GraphModel): Promise<Record<string, Uint8Array>> {
  const artifacts = await toArtifacts(model)
  return { [MODEL_FILE]: Buffer.from(JSON.stringify(modelJsonFor(artifacts))), [WEIGHTS_FILE]: weightBytes(artifacts) }
}

/** A tfjs load handler over a model's files in memory (as `modelToFiles` made them or the store returns them). */
export function filesLoadHandler(files: Record<string, Uint8Array>): tf.io.IOHandler {
  const modelJson = files[MODEL_FILE]
  if (!modelJson) throw new Error(`the model has no ${MODEL_FILE}`)
  return bytesLoadHandler(modelJson, files)
}

/**
 * Loads a model from its files' bytes: a GraphModel where model.json's `format` says 'graph-model' (as
 * `modelToFiles` writes for one, and ModelMetadata.base.format records), else a LayersModel.
 */
export function modelFromFiles(files: Record<string, Uint8Array>): Promise<tf.LayersModel | tf.GraphModel> {
  const handler = filesLoadHandler(files)
  const json = JSON.parse(Buffer.from(files[MODEL_FILE]!).toString('utf8')) as tf.io.ModelJSON
  return json.format === 'graph-model' ? tf.loadGraphModel(handler) : tf.loadLayersModel(handler)
}

/** Captures what `model.save` would write, in memory (topology, specs, one weight buffer). */
export async function toArtifacts(model: tf.LayersModel | tf.GraphModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) }
    }),
  )
  if (!captured) throw new Error('model.save produced no artifacts')
  return captured
}

/** Copies a Node Buffer's bytes into an ArrayBuffer of exactly its length (Buffers share a larger pool). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength)
  new Uint8Array(out).set(bytes)
  return out
}
