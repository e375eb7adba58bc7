import { createHash, randomUUID } from 'node:crypto'
import type { Config } from '../config.js'
import { DEFAULT_BASE_MODEL, PRIORITY, trainOptions, type CreateJob } from '../contract/jobs.js'
import { AppError } from '../errors.js'
import { parseAllowList, systemResolver } from '../net/ssrf-guard.js'
import { checkWebhookUrl } from '../net/webhook-url.js'
import { decodeCheckpoint, encodeCheckpoint } from '../ml/checkpoint-codec.js'
import type { BaseModelRef } from '../ml/bases.js'
import type { TrainExample } from '../ml/train-classifier.js'
import type { HeadCheckpoint } from '../ml/train.js'
import type { CancelOutcome } from '../queue/cancel.js'
import type { JobDocument } from '../queue/job-document.js'
import type { TrainModelJob, TrainResult } from '../queue/jobs.js'
import type { ListQuery, TrainingQueue } from '../queue/producer.js'
import type { BaseStore } from '../storage/bases.js'
import type { DatasetStore } from '../storage/datasets.js'
import type { ModelFiles, ModelMetadata } from '../storage/models.js'
import type { Repositories } from '../storage/repositories.js'
import { resolveJobBase, type BaseService, type GuardedFetch } from './bases.js'
import type { EndedJob } from './job-end.js'
import type { QuotaChecks } from './quotas.js'

export interface TrainingServiceDeps {
  /** The project these jobs belong to: its jobs alone are read, listed and cancelled here. */
  projectId: string
  datasets: Pick<DatasetStore, 'get'>
  bases: Pick<BaseService, 'checkForJob'>
  queue: TrainingQueue
  /** Job-end handling (services/job-end.ts) for a job this service ends itself: cancelled while queued. */
  jobEnd(job: EndedJob): Promise<void>
  /** The project's queued-jobs and storage quotas. */
  quotas: QuotaChecks
  config: Pick<Config, 'WEBHOOK_URL_ALLOWLIST' | 'MAX_QUEUED_JOBS_PER_KEY'>
  /** Open mode (no keys): a job's base URL may reach inside the network, and the worker fetches it unguarded. */
  localUrls: boolean
}

/** Who asks for a job: `owner` (`key:…` or `ip:…`) for the queue quota and idempotency keys, `requestId` for logs. */
export interface JobRequest {
  owner: string
  requestId: string
  idempotencyKey?: string | undefined
}

/** What a job's events are read from: the job document and BullMQ's event stream. */
export type JobEventSource = Pick<TrainingQueue, 'get' | 'events'>

export interface TrainingService {
  /**
   * Queues a training job. A retry with the same Idempotency-Key and body answers with the first job as it stands;
   * the same key with another body is IDEMPOTENCY_KEY_REUSED.
   * @throws AppError DATASET_NOT_FOUND, BASE_NOT_FOUND, OPTIONS_INVALID, URL_FORBIDDEN (webhook), TOO_MANY_QUEUED_JOBS,
   * STORAGE_QUOTA_EXCEEDED
   */
  create(body: CreateJob, by: JobRequest): Promise<JobDocument>
  /** Newest first, a page at a time. */
  list(query: Omit<ListQuery, 'projectId'>): Promise<{ jobs: JobDocument[]; nextCursor: string | null }>
  /** @throws AppError JOB_NOT_FOUND */
  get(id: string): Promise<JobDocument>
  /**
   * A queued job is cancelled at once (`cancelled`, and its end handled here); a running one is asked to stop
   * (`requested`); cancelling a cancelled job again answers `finished` with it.
   * @throws AppError JOB_NOT_FOUND, JOB_FINISHED (completed or failed)
   */
  cancel(id: string): Promise<{ outcome: CancelOutcome; job: JobDocument }>
  /** Where the events of job `id` are read. @throws AppError JOB_NOT_FOUND */
  events(id: string): Promise<JobEventSource>
}

/**
 * A retried POST with the same Idempotency-Key maps to the same BullMQ job id (per caller: keys of different callers
 * never meet), and BullMQ adds a job id only once, so the retry answers with the first job.
 */
function jobIdFor(idempotencyKey: string | undefined, owner: string): string {
  return idempotencyKey ? `k-${createHash('sha256').update(`${owner}\n${idempotencyKey}`).digest('hex').slice(0, 40)}` : randomUUID()
}

/** The body's fingerprint, independent of key order: a retry must send the same request. */
function requestHash(body: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
        : value
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest('hex')
}

/** Queuing, reading and cancelling the training jobs of one project. */
export function createTrainingService(deps: TrainingServiceDeps): TrainingService {
  const { projectId, datasets, bases, queue, jobEnd, quotas, config } = deps
  const webhookCheck = { allowHosts: parseAllowList(config.WEBHOOK_URL_ALLOWLIST), resolve: systemResolver }

  async function get(id: string): Promise<JobDocument> {
    // Another project's job reads as missing: its existence is not told.
    const job = await queue.get(id, projectId)
    if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
    return job
  }

  return {
    async create(body, { owner, requestId, idempotencyKey }) {
      const dataset = await datasets.get(body.datasetId)
      if (!dataset) throw new AppError('DATASET_NOT_FOUND', `no dataset ${body.datasetId}`)
      await bases.checkForJob(body.baseModel ?? DEFAULT_BASE_MODEL, body.fineTuneLayers ?? 0)
      if (body.webhook) await checkWebhookUrl(body.webhook.url, webhookCheck)
      const jobId = jobIdFor(idempotencyKey, owner)
      // Counted and queued as one step: requests racing on any replica would each count the same jobs and all pass.
      return queue.admit(projectId, async () => {
        // A retry of a job already queued is answered with it, quota or not.
        const retry = idempotencyKey !== undefined && (await queue.get(jobId, projectId)) !== undefined
        if (!retry) {
          const unfinished = await queue.countUnfinished(projectId, owner)
          if (unfinished.owner >= config.MAX_QUEUED_JOBS_PER_KEY) {
            throw new AppError('TOO_MANY_QUEUED_JOBS', `${config.MAX_QUEUED_JOBS_PER_KEY} jobs of yours are queued or running already`, {
              limit: 'MAX_QUEUED_JOBS_PER_KEY',
              max: config.MAX_QUEUED_JOBS_PER_KEY,
            })
          }
          await quotas.queuedJobs(projectId, unfinished.project)
          // A job stores a model and checkpoints: a project at its storage quota trains no more.
          await quotas.storage(projectId)
        }
        return queue.enqueue(
          jobId,
          {
            modelId: jobId,
            owner,
            projectId,
            datasetId: body.datasetId,
            baseModel: body.baseModel ?? DEFAULT_BASE_MODEL,
            options: trainOptions(body, dataset.classes.map((c) => c.name)),
            requestId,
            ...(!deps.localUrls && { keyed: true as const, priority: body.priority ?? PRIORITY.default }),
            ...(body.webhook && { webhook: { url: body.webhook.url } }),
            ...(idempotencyKey !== undefined && { requestHash: requestHash(body) }),
          },
          deps.localUrls ? (body.priority ?? PRIORITY.default) : PRIORITY.default,
        )
      })
    },
    list: (query) => queue.list({ ...query, projectId }),
    get,
    async cancel(id) {
      const { outcome, webhook } = await queue.cancel(id, projectId)
      const job = outcome === 'missing' ? undefined : await queue.get(id, projectId)
      if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${id}`)
      if (outcome === 'finished' && job.status !== 'cancelled') throw new AppError('JOB_FINISHED', `job ${id} has already ${job.status === 'completed' ? 'completed' : 'failed'}`)
      // Cancelled while queued: no worker will see it end (one handed back by a stopping worker has a checkpoint).
      if (outcome === 'cancelled') await jobEnd({ id, webhook, outcome: 'cancelled' })
      return { outcome, job }
    },
    async events(id) {
      await get(id)
      return queue
    },
  }
}

export interface TrainingRunDeps {
  repos: Pick<Repositories, 'datasets' | 'images' | 'models' | 'checkpoints' | 'features'>
  bases: Pick<BaseStore, 'get' | 'localModelFile'>
  /** How a URL base of a job queued with keys (`TrainModelJob.keyed`) is fetched: see `fetchUrlBase`. */
  guardedFetch: GuardedFetch
}

/** What one attempt of a training job reads and writes, for the worker's processor; the training itself is ml's. */
export interface TrainingRunService {
  /**
   * The result an earlier attempt saved just before publishing the model, when the model is there already (that
   * attempt died before BullMQ recorded it); undefined when the model is not there.
   * @throws AppError TRAINING_FAILED when the model is there without a saved result
   */
  earlierResult(jobId: string, modelId: string): Promise<TrainResult | undefined>
  /** The job's last epoch checkpoint, when it has one for this model. */
  resumePoint(jobId: string, modelId: string): Promise<HeadCheckpoint | undefined>
  /** Replaces the job's checkpoint. */
  saveCheckpoint(jobId: string, modelId: string, state: HeadCheckpoint): Promise<void>
  /**
   * The dataset's class names and its images as training examples, each read through this process's image cache.
   * @throws AppError DATASET_NOT_FOUND (deleted since the job was queued: a retry cannot bring it back)
   */
  examples(datasetId: string): Promise<{ labels: string[]; examples: TrainExample[] }>
  /**
   * The job's base as `loadBase` takes it; for a job queued with keys (`keyed`) a URL base is fetched
   * through the SSRF guard first, so tfjs loads it from this process's disk.
   * @throws AppError BASE_NOT_FOUND, URL_FORBIDDEN, BASE_MODEL_INVALID
   */
  base(job: Pick<TrainModelJob, 'baseModel' | 'keyed'>): Promise<BaseModelRef>
  /** The project's feature cache (this process's disk in front of a remote store). */
  features: Repositories['features']
  /** Saves the job's result, then publishes the model: see `earlierResult`. */
  publish(jobId: string, result: TrainResult, files: ModelFiles, metadata: ModelMetadata): Promise<void>
  /** Drops a cancelled job's scratch space (its checkpoint). */
  discard(jobId: string): Promise<void>
}

/** The storage side of running the training jobs of one project. */
export function createTrainingRunService(deps: TrainingRunDeps): TrainingRunService {
  const { datasets, images, models, checkpoints, features } = deps.repos
  return {
    async earlierResult(jobId, modelId) {
      if (!(await models.getMetadata(modelId))) return undefined
      const saved = (await checkpoints.loadResult(jobId)) as TrainResult | undefined
      if (!saved) throw new AppError('TRAINING_FAILED', `model ${modelId} exists but job ${jobId} has no saved result`)
      return saved
    },
    resumePoint: async (jobId, modelId) => decodeCheckpoint(await checkpoints.load(jobId), modelId),
    saveCheckpoint: (jobId, modelId, state) => checkpoints.save(jobId, encodeCheckpoint(modelId, state)),
    async examples(datasetId) {
      const dataset = await datasets.get(datasetId)
      if (!dataset) throw new AppError('DATASET_NOT_FOUND', `dataset ${datasetId} does not exist (deleted?)`)
      const labels = dataset.classes.map((c) => c.name)
      const labelIndex = new Map(labels.map((name, i) => [name, i]))
      const examples = dataset.images.map((image) => ({
        key: image.sha256,
        label: labelIndex.get(image.label) ?? -1,
        split: image.split,
        path: image.path,
        read: () => images(datasetId, image),
      }))
      return { labels, examples }
    },
    base: (job) => resolveJobBase(deps.bases, job.baseModel, job.keyed ? deps.guardedFetch : undefined),
    features,
    async publish(jobId, result, files, metadata) {
      await checkpoints.saveResult(jobId, result) // before the model, see earlierResult
      await models.save(result.modelId, files, metadata)
    },
    discard: (jobId) => checkpoints.remove(jobId),
  }
}
