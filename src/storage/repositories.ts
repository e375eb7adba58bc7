import { createAliasStore, type AliasStore } from './aliases.js'
import { createBaseStore, type BaseStore } from './bases.js'
import { createCheckpointStore, type CheckpointStore } from './checkpoints.js'
import { createDatasetStore, type DatasetStore } from './datasets.js'
import { createFeatureCache, layeredFeatureCache, type FeatureCache } from './features.js'
import { cachedImageReader, type ImageReader } from './image-cache.js'
import type { DataLayout } from './layout.js'
import { createModelStore, type ModelStore } from './models.js'
import type { Stores } from './open-store.js'

/** Every repository of one project: what the services of that project store and load through. */
export interface Repositories {
  datasets: DatasetStore
  /** Dataset image bytes, through this process's disk when the store is remote. */
  images: ImageReader
  models: ModelStore
  aliases: AliasStore
  bases: BaseStore
  checkpoints: CheckpointStore
  features: FeatureCache
}

export interface RepositoryOptions {
  /** This process's DATA_DIR: staging for uploads, extracted and fetched bases. */
  layout: DataLayout
  /** See `AliasStoreOptions.cacheMs`; build one set per project and keep it, or the cache is lost. */
  aliasCacheMs?: number
}

/**
 * The repositories of project `projectId`. Every project's data is the store root for now (today's layout, so an
 * existing DATA_DIR or bucket keeps working as it is); where a project's data lives is decided here alone.
 */
export function repositoriesFor(stores: Stores, _projectId: string, opts: RepositoryOptions): Repositories {
  const { shared, local } = stores
  const datasets = createDatasetStore(opts.layout, shared)
  return {
    datasets,
    images: cachedImageReader(datasets, shared, local),
    models: createModelStore(shared),
    aliases: createAliasStore(shared, { cacheMs: opts.aliasCacheMs ?? 0 }),
    bases: createBaseStore(stores, opts.layout.bases),
    checkpoints: createCheckpointStore(shared),
    // With a bucket, this process's disk keeps the features it used; without, DATA_DIR is the store.
    features: shared.remote ? layeredFeatureCache(createFeatureCache(local), createFeatureCache(shared)) : createFeatureCache(shared),
  }
}
