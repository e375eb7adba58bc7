import { DEFAULT_PROJECT_ID } from '../contract/projects.js'
import { scopedStore, type BlobStore } from './blob-store.js'

/** Where a project other than `default` keeps everything: `projects/<id>/` of the store (and of the local cache). */
export function projectPrefix(projectId: string): string {
  return `projects/${projectId}`
}

/**
 * One project's part of a store: `default` is the store's root (the layout from before projects, so existing data
 * needs no migration), any other project its own prefix. Repositories built on it never see another project's keys.
 */
export function projectStore(store: BlobStore, projectId: string): BlobStore {
  return projectId === DEFAULT_PROJECT_ID ? store : scopedStore(store, projectPrefix(projectId))
}

/** The folders a project's repositories write (datasets, models, aliases, uploaded bases, checkpoints, features). */
const PROJECT_FOLDERS = ['datasets', 'models', 'aliases', 'bases/uploaded', 'jobs', 'cache/features']

/** Bytes a project holds, for its storage quota; `store` is its part of the shared store (projectStore). */
export async function storedBytes(store: BlobStore): Promise<number> {
  const sizes = await Promise.all(PROJECT_FOLDERS.map((folder) => store.size(folder)))
  return sizes.reduce((a, b) => a + b, 0)
}
