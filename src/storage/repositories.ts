import { createAliasStore, type AliasStore } from './aliases.js'
import { createBaseStore, type BaseStore } from './bases.js'
import { createCheckpointStore, type CheckpointStore } from './checkpoints.js'
import { createDatasetStore, type DatasetStore } from './datasets.js'
import { createFeatureCache, layeredFeatureCache, type FeatureCache } from './features.js'
import { cachedImageReader, type ImageReader } from './image-cache.js'
import path from 'node:path'
import { DEFAULT_PROJECT_ID } from '../contract/projects.js'
import { dataLayout, type DataLayout } from './layout.js'
import { createModelStore, type ModelStore } from './models.js'
import type { Stores } from './open-store.js'
import { projectPrefix, projectStore } from './project-store.js'

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
 * The stores and local folders of project `projectId`: `default` is the store root and DATA_DIR as they were before
 * projects (an existing DATA_DIR or bucket keeps working as it is); any other project is `projects/<id>/` of the
 * shared store and of this process's disk, so its repositories (and the local caches under them) never see another
 * project's keys. Where a project's data lives is decided here alone.
 */
export function projectStores(stores: Stores, layout: DataLayout, projectId: string): { stores: Stores; layout: DataLayout } {
  if (projectId === DEFAULT_PROJECT_ID) return { stores, layout }
  const shared = projectStore(stores.shared, projectId)
  // Without a bucket the shared store is DATA_DIR itself: one view serves as both, as at the root.
  const local = stores.local === stores.shared ? shared : projectStore(stores.local, projectId)
  return { stores: { shared, local }, layout: dataLayout(projectRoot(layout, projectId)) }
}

/** The project's folder of this process's DATA_DIR. */
function projectRoot(layout: DataLayout, projectId: string): string {
  return projectId === DEFAULT_PROJECT_ID ? layout.root : path.join(layout.root, ...projectPrefix(projectId).split('/'))
}

/**
 * `text` with the paths of this process's DATA_DIR made relative: to the project's folder inside it, else to DATA_DIR
 * (`bases/fetched/…`). For what a project's caller reads (a job's failure): where the machine keeps its data, and
 * that other projects sit beside, is the operator's business.
 */
export function relativeToProject(text: string, layout: DataLayout, projectId: string): string {
  let out = text
  for (const root of [projectRoot(layout, projectId), layout.root]) {
    const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    // `<root>/x` reads `x` and the folder itself `.`; `<root>2/…` is another folder, left alone.
    out = out.replace(new RegExp(`${escaped}(/|(?![\\w.-]))`, 'g'), (_match, slash: string) => (slash ? '' : '.'))
  }
  return out
}

/** The repositories of project `projectId` (see `projectStores`). */
export function repositoriesFor(all: Stores, projectId: string, opts: RepositoryOptions): Repositories {
  const { stores, layout } = projectStores(all, opts.layout, projectId)
  const { shared, local } = stores
  const datasets = createDatasetStore(layout, shared)
  return {
    datasets,
    images: cachedImageReader(datasets, shared, local),
    models: createModelStore(shared),
    aliases: createAliasStore(shared, { cacheMs: opts.aliasCacheMs ?? 0 }),
    bases: createBaseStore(stores, layout.bases),
    checkpoints: createCheckpointStore(shared),
    // With a bucket, this process's disk keeps the features it used; without, DATA_DIR is the store.
    features: shared.remote ? layeredFeatureCache(createFeatureCache(local), createFeatureCache(shared)) : createFeatureCache(shared),
  }
}
