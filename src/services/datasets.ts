import type { Config } from '../config.js'
import type { RevisionChange } from '../datasets/revision.js'
import { AppError } from '../errors.js'
import type { TrainingQueue } from '../queue/producer.js'
import type { BlobStream } from '../storage/blob-store.js'
import type { DatasetImage, DatasetManifest, DatasetStore, DatasetSummary, RejectedFile } from '../storage/datasets.js'
import type { QuotaChecks } from './quotas.js'

export type DatasetLimits = Pick<Config, 'MAX_DATASET_IMAGES' | 'MAX_IMAGE_PIXELS' | 'MAX_DATASET_INFLATED_BYTES' | 'MAX_DATASET_CLASSES'>

export interface DatasetServiceDeps {
  /** The project these datasets belong to. */
  projectId: string
  datasets: DatasetStore
  /** Whether a queued or running job still needs a dataset. */
  queue: Pick<TrainingQueue, 'isDatasetInUse'>
  limits: DatasetLimits
  /** The project's storage quota: a revision stores a copy of every image it keeps. */
  quotas: Pick<QuotaChecks, 'storage'>
}

/** A revision as a caller asks for it; `add` are image files already on this process's disk. */
export interface RevisionRequest extends Omit<RevisionChange, 'add'> {
  add?: { to: string; files: readonly { name: string; file: string }[]; rejected: readonly RejectedFile[] }
  name?: string | undefined
}

export interface DatasetService {
  /** Ingests the archive at `archive` (zip, tar, tar.gz) under the configured limits. */
  create(archive: string, name: string): Promise<DatasetManifest>
  /** @throws AppError DATASET_NOT_FOUND */
  get(id: string): Promise<DatasetManifest>
  /** Newest first. */
  list(): Promise<DatasetSummary[]>
  /** @throws AppError DATASET_NOT_FOUND, DATASET_IN_USE while a queued or running job uses it */
  remove(id: string): Promise<void>
  /** A new dataset from `parentId`; see `DatasetStore.revise`. @throws AppError STORAGE_QUOTA_EXCEEDED */
  revise(parentId: string, revision: RevisionRequest): Promise<DatasetManifest>
  /** The dataset's images in manifest order, or those of class `label`. @throws AppError DATASET_NOT_FOUND, NOT_FOUND (no such class) */
  images(id: string, label?: string): Promise<DatasetImage[]>
  /** One stored image by its path under `images/`. @throws AppError NOT_FOUND */
  openImage(id: string, imagePath: string): Promise<BlobStream>
}

/** Uploading, revising, listing and deleting the datasets of one project. */
export function createDatasetService(deps: DatasetServiceDeps): DatasetService {
  const { projectId, datasets, queue, limits, quotas } = deps

  async function get(id: string): Promise<DatasetManifest> {
    const manifest = await datasets.get(id)
    if (!manifest) throw new AppError('DATASET_NOT_FOUND', `no dataset ${id}`)
    return manifest
  }

  return {
    create: (archive, name) =>
      datasets.create(archive, {
        name,
        limits: {
          maxImages: limits.MAX_DATASET_IMAGES,
          maxImagePixels: limits.MAX_IMAGE_PIXELS,
          maxInflatedBytes: limits.MAX_DATASET_INFLATED_BYTES,
          maxClasses: limits.MAX_DATASET_CLASSES,
        },
      }),
    get,
    list: () => datasets.list(),
    async remove(id) {
      await get(id)
      if (await queue.isDatasetInUse(id, projectId)) throw new AppError('DATASET_IN_USE', `dataset ${id} is used by a queued or running job`)
      await datasets.remove(id)
    },
    async revise(parentId, { move, drop, add, name }) {
      // A revision copies the images it keeps: a JSON one (move, drop) reads no upload, so no upload slot checks it.
      await quotas.storage(projectId)
      return datasets.revise(parentId, {
        change: { move, drop },
        ...(add && { add: { ...add, maxImagePixels: limits.MAX_IMAGE_PIXELS } }),
        name: name?.trim() || undefined,
        maxClasses: limits.MAX_DATASET_CLASSES,
      })
    },
    async images(id, label) {
      const manifest = await get(id)
      if (label === undefined) return manifest.images
      if (!manifest.classes.some((c) => c.name === label)) throw new AppError('NOT_FOUND', `dataset ${id} has no class ${label}`)
      return manifest.images.filter((image) => image.label === label)
    },
    async openImage(id, imagePath) {
      // The store refuses `..`, empty or hidden parts, and reads under `images/` only: manifest.json never leaks.
      const image = await datasets.openImage(id, imagePath)
      if (!image) throw new AppError('NOT_FOUND', `no image ${imagePath} in dataset ${id}`)
      return image
    },
  }
}
