import path from 'node:path'
import type { BlobStore } from './blob-store.js'
import { localBlobStore } from './local-blob-store.js'
import type { S3BlobStore } from './s3-blob-store.js'
import { parseStorageUrl } from './storage-url.js'

export interface StoreConfig {
  /** Empty: DATA_DIR is the store. `s3://bucket/prefix?endpoint=…&forcePathStyle=true&region=…`: a bucket. */
  STORAGE_URL: string
  DATA_DIR: string
}

/**
 * The shared store (`shared`) and this process's own disk (`local`, DATA_DIR). Without STORAGE_URL they are the
 * same folder; with it, `local` is only a cache (fetched images, features, extracted bases) that can be wiped.
 */
export interface Stores {
  shared: BlobStore
  local: BlobStore
}

/** The shared store alone: the S3 bucket of STORAGE_URL, else DATA_DIR. */
export async function openSharedStore(config: StoreConfig): Promise<BlobStore> {
  return config.STORAGE_URL ? openBucket(config.STORAGE_URL) : localBlobStore(path.resolve(config.DATA_DIR))
}

/**
 * The S3 SDK is imported only when a bucket is named: on local disk the API, the worker and each sandboxed child
 * would otherwise load it for nothing (the SDK alone takes ≈ 0.14 s to import on this 2-core machine, ≈ 0.7 s under load).
 */
async function openBucket(storageUrl: string): Promise<S3BlobStore> {
  const location = parseStorageUrl(storageUrl)
  const { s3BlobStore } = await import('./s3-blob-store.js')
  return s3BlobStore(location)
}

/** Opens the stores a process uses; `verify` also checks the bucket exists (start-up of the API). */
export async function openStores(config: StoreConfig, { verify = false } = {}): Promise<Stores> {
  const local = localBlobStore(path.resolve(config.DATA_DIR))
  if (!config.STORAGE_URL) return { shared: local, local }
  const shared = await openBucket(config.STORAGE_URL)
  if (verify) {
    await shared.verifyBucket().catch((err: unknown) => {
      shared.close()
      throw err
    })
  }
  return { shared, local }
}
