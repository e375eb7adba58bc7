import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import type { Prediction, Predictor } from '../ml/predictor.js'
import { fetchImage } from '../net/fetch-image.js'
import { parseAllowList, systemResolver } from '../net/ssrf-guard.js'
import type { TrainingQueue } from '../queue/producer.js'
import type { AliasStore } from '../storage/aliases.js'
import type { ModelStore } from '../storage/models.js'
import { qualifiedModelId } from '../storage/project-models.js'

export interface PredictionServiceDeps {
  /** The project whose models (and aliases) predict here. */
  projectId: string
  models: Pick<ModelStore, 'getMetadata'>
  aliases: Pick<AliasStore, 'resolve'>
  /** One per process, shared by every project: model ids are UUIDs, so the project is checked here, not there. */
  predictor: Pick<Predictor, 'predict' | 'has'>
  /** Tells a model still training from an unknown one. */
  queue: Pick<TrainingQueue, 'get'>
  config: Pick<Config, 'MAX_IMAGE_BYTES' | 'PREDICT_URL_ALLOWLIST'>
}

/** The model id an alias or id resolved to and, per image in order, its top-K predictions. */
export interface PredictionResult {
  modelId: string
  results: Prediction[][]
}

export interface PredictOptions {
  topK: number
  threshold: number
}

export interface PredictionService {
  /**
   * Classifies each image with the model named by id or alias.
   * @throws AppError PAYLOAD_TOO_LARGE, IMAGE_INVALID, MODEL_NOT_FOUND, and the predictor's decoding errors
   */
  predict(model: string, images: Uint8Array[], opts: PredictOptions): Promise<PredictionResult>
  /** Fetches the image at `url` (SSRF-checked, size-limited), then as `predict`. */
  predictUrl(model: string, url: string, opts: PredictOptions): Promise<PredictionResult>
  /**
   * A model id is its training job's id, so a model not stored yet can say why: MODEL_NOT_READY while its job is
   * queued or running (instead of a 404 the client would give up on). A stored model costs no store read (the
   * predictor's metadata cache) and no Redis call.
   * @throws AppError MODEL_NOT_READY
   */
  checkReady(model: string): Promise<void>
}

/** Predictions with the models of one project. */
export function createPredictionService(deps: PredictionServiceDeps): PredictionService {
  const { projectId, models, aliases, predictor, queue, config } = deps
  const urlCheck = { allowHosts: parseAllowList(config.PREDICT_URL_ALLOWLIST), resolve: systemResolver }
  // Models of this project seen stored: a model never changes project, so one read each; a deleted one is then
  // refused by the predictor itself.
  const owned = new Set<string>()

  async function checkOwned(modelId: string): Promise<void> {
    if (owned.has(modelId)) return
    if (!(await models.getMetadata(modelId))) throw new AppError('MODEL_NOT_FOUND', `no model '${modelId}'`)
    owned.add(modelId)
  }

  async function predict(model: string, images: Uint8Array[], opts: PredictOptions): Promise<PredictionResult> {
    const tooLarge = images.findIndex((image) => image.byteLength > config.MAX_IMAGE_BYTES)
    if (tooLarge >= 0) throw new AppError('PAYLOAD_TOO_LARGE', `image ${tooLarge} exceeds ${config.MAX_IMAGE_BYTES} bytes`, { limit: config.MAX_IMAGE_BYTES })
    if (images.some((image) => image.byteLength === 0)) throw new AppError('IMAGE_INVALID', 'an image is empty')
    const modelId = await aliases.resolve(model)
    await checkOwned(modelId)
    return { modelId, results: await predictor.predict(qualifiedModelId(projectId, modelId), images, opts.topK, opts.threshold) }
  }

  return {
    predict,
    async predictUrl(model, url, opts) {
      // The model first: an unknown (or another project's) model is 404 without a fetch on the caller's behalf.
      await checkOwned(await aliases.resolve(model))
      const image = await fetchImage(url, { ...urlCheck, maxBytes: config.MAX_IMAGE_BYTES })
      return predict(model, [image], opts)
    },
    async checkReady(model) {
      // An alias (`model=prod`) names a stored model: resolved first.
      const modelId = await aliases.resolve(model)
      if (await predictor.has(qualifiedModelId(projectId, modelId))) return
      // Redis down: the prediction answers MODEL_NOT_FOUND, which is true as far as this replica can tell.
      const job = await queue.get(modelId, projectId).catch(() => undefined)
      if (job && (job.status === 'queued' || job.status === 'active')) {
        throw new AppError('MODEL_NOT_READY', `model ${modelId} is still training (job ${job.id} is ${job.status})`, {
          jobId: job.id,
          status: job.status,
          percent: job.progress.percent,
        })
      }
    },
  }
}
