import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { safeJoin } from './layout.js'

/** A stored object opened for reading, with what an HTTP answer needs to cache it. */
export interface BlobStream {
  body: Readable
  /** Bytes. */
  size: number
  /** A strong validator, quoted as in HTTP: the S3 ETag, or size + mtime on disk (objects are written once). */
  etag: string
}

/** Where a publication's parts come from: a local folder (moved or uploaded whole) or bytes in memory. */
export type PublishSource = { dir: string } | { files: Record<string, Uint8Array | string> }

/**
 * The byte-level store every repository sits on: a local folder (DATA_DIR) or an S3 bucket + prefix. Keys are
 * `/`-separated relative paths built by the repositories from validated ids; the store never parses them.
 * Errors that mean the store itself failed (disk full, bucket unreachable, credentials refused) are thrown as
 * `AppError('STORAGE_UNAVAILABLE')` naming the cause.
 */
export interface BlobStore {
  /** `file:///abs/dir` or `s3://bucket/prefix`, for logs and /readyz. */
  readonly location: string
  /** True for an S3 bucket: the process's DATA_DIR is then only a local cache. */
  readonly remote: boolean
  /** Writes one object whole: readers see the old bytes or the new ones. A stream is uploaded in parts. */
  put(key: string, body: Uint8Array | string | Readable): Promise<void>
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>
  stream(key: string): Promise<BlobStream | undefined>
  /** Every key under `prefix` (a folder, no trailing `/`), recursively, relative to the store, sorted. */
  list(prefix: string): Promise<string[]>
  /** The names directly under `prefix` (folders and objects), sorted; empty when there are none. */
  children(prefix: string): Promise<string[]>
  /** Bytes of every object under `prefix` (a folder), recursively; 0 when there are none. For storage quotas. */
  size(prefix: string): Promise<number>
  /** Idempotent: deleting what is not there succeeds. */
  delete(key: string): Promise<void>
  /**
   * Removes everything under `prefix`, `first` (the publication's marker) before the rest, so readers stop
   * seeing it at once; idempotent. @returns false when nothing was there
   */
  deletePrefix(prefix: string, first?: string): Promise<boolean>
  /**
   * Publishes a folder of objects under `prefix` so that it is seen whole or not at all: on disk the parts are
   * staged and renamed in one step; on S3 every part is written first and `marker` (one of the parts) last, and
   * readers look for the marker. A failure removes what was written. `prefix` must not exist yet.
   */
  publish(prefix: string, source: PublishSource, marker: string): Promise<void>
  /** A real write and delete: throws when the store cannot take one (used by /readyz). */
  probe(): Promise<void>
  close(): void
}

/**
 * The file behind `key` when `store` is a local folder (DATA_DIR without STORAGE_URL), for what only a file can
 * do cheaply: a hard link, or a model read in place by path. Undefined for a bucket.
 */
export function localFile(store: BlobStore, key: string): string | undefined {
  if (store.remote || !store.location.startsWith('file:')) return undefined
  return safeJoin(fileURLToPath(store.location), ...key.split('/'))
}

/** A view of `store` whose keys are all under `prefix`. */
export function scopedStore(store: BlobStore, prefix: string): BlobStore {
  const at = (key: string) => (key ? `${prefix}/${key}` : prefix)
  const strip = (key: string) => key.slice(prefix.length + 1)
  return {
    location: `${store.location}/${prefix}`,
    remote: store.remote,
    put: (key, body) => store.put(at(key), body),
    get: (key) => store.get(at(key)),
    stream: (key) => store.stream(at(key)),
    list: async (p) => (await store.list(at(p))).map(strip),
    children: (p) => store.children(at(p)),
    size: (p) => store.size(at(p)),
    delete: (key) => store.delete(at(key)),
    deletePrefix: (p, first) => store.deletePrefix(at(p), first),
    publish: (p, source, marker) => store.publish(at(p), source, marker),
    probe: () => store.probe(),
    close: () => store.close(),
  }
}
