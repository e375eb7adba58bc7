import { randomUUID } from 'node:crypto'
import { readFile, readdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { loadGraphModel, loadLayersModel } from '@tensorflow/tfjs'
import { AppError } from '../errors.js'
import type { ClassGuidance } from '../ml/class-guidance.js'
import type { LabelIssueReport, NearDuplicateReport } from '../ml/data-insights.js'
import type { Metrics } from '../ml/evaluate.js'
import { saveModel, type Classifier } from '../ml/export.js'
import { MODEL_FILE, fileLoadHandler } from '../ml/file-io.js'
import type { Preprocessing } from '../ml/image.js'
import type { EpochLog } from '../ml/train.js'
import type { MisclassifiedImage } from '../ml/train-classifier.js'
import { publishDir, writeJsonAtomic } from './atomic.js'
import { isId, safeJoin } from './layout.js'

export const METADATA_FILE = 'metadata.json'

/** What a stored model is; `metadata.json` next to its model.json + weights.bin. */
export interface ModelMetadata {
  id: string
  /** A display name set by `rename`; absent until someone names the model. */
  name?: string
  /** ISO 8601. */
  createdAt: string
  /** Class names, by output index. */
  labels: string[]
  /**
   * How to feed the model: square side in pixels and pixel scaling. `format` says how model.json loads:
   * 'layers-model' (`tf.loadLayersModel`; absent on models saved before GraphModel bases) or 'graph-model'
   * (`tf.loadGraphModel`, probabilities from `model.predict`).
   */
  base: { id: string; inputSize: number; preprocessing: Preprocessing; format?: 'layers-model' | 'graph-model' }
  metrics: Metrics
  /** Per epoch: loss, accuracy, valLoss, valAccuracy, learning rate, seconds; fine-tuning epochs say so. */
  history: EpochLog[]
  /** 'validation', or 'training' when there was no validation split. Absent on models saved before it existed (as below). */
  evaluatedOn?: 'validation' | 'training'
  /** Epoch whose weights the model has: with early stopping (and after fine-tuning) the best by the monitor, else the last. */
  bestEpoch?: number
  /** Wrong validation predictions, most confident first. */
  misclassified?: MisclassifiedImage[]
  /** Dataset and split warnings at training time. */
  warnings?: string[]
  /** Loss weight per class as used; null when unweighted. */
  classWeights?: Record<string, number> | null
  /** The base's cut and tuned layers when fineTuneLayers > 0. */
  fineTuned?: { cutLayer: string; layers: string[] } | null
  /** Training examples including augmented views. */
  trainViews?: number
  /** As in the job's result (absent on models trained before they existed). */
  labelIssues?: LabelIssueReport[]
  nearDuplicates?: NearDuplicateReport[]
  classGuidance?: ClassGuidance
  jobId?: string | undefined
  datasetId?: string | undefined
  params?: unknown
}

export interface ModelStore {
  /** Publishes `<models>/<id>/` with model.json, weights.bin and metadata.json in one rename. */
  save(id: string, model: Classifier, metadata: ModelMetadata): Promise<void>
  getMetadata(id: string): Promise<ModelMetadata | undefined>
  /** Every stored model's metadata, newest first. */
  list(): Promise<ModelMetadata[]>
  /** @returns false when there was no such model */
  remove(id: string): Promise<boolean>
  /** The model's folder (for serving model.json and weights.bin). */
  dir(id: string): string
  /**
   * A LayersModel, or a GraphModel where the metadata's `base.format` says 'graph-model'.
   * @throws AppError MODEL_NOT_FOUND
   */
  load(id: string): Promise<Classifier>
  /**
   * Sets the display name in the model's metadata (the weights are untouched); replaced atomically, so a reader
   * sees the old or the new name.
   * @returns the updated metadata, or undefined when there is no such model
   */
  rename(id: string, name: string): Promise<ModelMetadata | undefined>
}

export function createModelStore(modelsDir: string): ModelStore {
  const dir = (id: string) => {
    if (!isId(id)) throw new AppError('MODEL_NOT_FOUND', `no model '${id}'`)
    return safeJoin(modelsDir, id)
  }
  const getMetadata = async (id: string): Promise<ModelMetadata | undefined> => {
    if (!isId(id)) return undefined
    try {
      return JSON.parse(await readFile(path.join(dir(id), METADATA_FILE), 'utf8')) as ModelMetadata
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }
  return {
    dir,
    getMetadata,
    async save(id, model, metadata) {
      await publishDir(dir(id), async (staging) => {
        await saveModel(model, staging)
        await writeJsonAtomic(path.join(staging, METADATA_FILE), metadata)
      })
    },
    async list() {
      let names: string[]
      try {
        names = await readdir(modelsDir)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw err
      }
      const all = await Promise.all(names.filter(isId).map(getMetadata))
      return all.filter((m): m is ModelMetadata => m !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    },
    async remove(id) {
      if (!isId(id)) return false
      // Rename first: readers see the whole model or none, never a half-deleted folder.
      const trash = safeJoin(modelsDir, `.trash-${id}-${randomUUID()}`)
      try {
        await rename(dir(id), trash)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
        throw err
      }
      await rm(trash, { recursive: true, force: true })
      return true
    },
    async rename(id, name) {
      const metadata = await getMetadata(id)
      if (!metadata) return undefined
      const renamed = { ...metadata, name }
      await writeJsonAtomic(path.join(dir(id), METADATA_FILE), renamed)
      return renamed
    },
    async load(id) {
      const meta = await getMetadata(id)
      if (!meta) throw new AppError('MODEL_NOT_FOUND', `no model '${id}'`)
      const handler = fileLoadHandler(path.join(dir(id), MODEL_FILE))
      return meta.base.format === 'graph-model' ? loadGraphModel(handler) : loadLayersModel(handler)
    },
  }
}
