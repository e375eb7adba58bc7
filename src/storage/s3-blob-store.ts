import { createReadStream } from 'node:fs'
import { readdir, readFile, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { AppError } from '../errors.js'
import type { BlobStore, PublishSource } from './blob-store.js'
import { StorageConfigError, type S3Location } from './storage-url.js'

/** Parts of a streamed upload (S3's minimum is 5 MiB); two in flight bound an upload's memory to ~16 MiB. */
const PART_BYTES = 8 * 1024 * 1024
const PARTS_IN_FLIGHT = 2
/** Files of a publication uploaded at once: enough to hide request latency, few enough for small servers. */
const PUBLISH_CONCURRENCY = 8
/** S3's DeleteObjects limit. */
const DELETE_BATCH = 1000
/** A store that does not accept a connection within this is reported unavailable, not waited on, ms. */
const CONNECT_TIMEOUT_MS = 3_000

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound'])
const CREDENTIALS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'CredentialsProviderError',
  'InvalidClientTokenId',
])

export interface S3BlobStore extends BlobStore {
  /**
   * Start-up check: throws a plain Error naming the bucket when it does not exist. A store that cannot be reached
   * (or refuses the credentials) does not stop the start: /readyz and each request report it, and it may come back.
   */
  verifyBucket(): Promise<void>
}

/**
 * The store in an S3 bucket (AWS, MinIO, R2, Ceph RGW, GCS's S3 API), credentials from the standard AWS chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance and task roles). S3 has no rename, so a
 * publication writes its parts first and its marker last, and readers only look for the marker.
 */
export function s3BlobStore(where: S3Location): S3BlobStore {
  const client = new S3Client({
    ...(where.region ? { region: where.region } : {}),
    ...(where.endpoint ? { endpoint: where.endpoint } : {}),
    forcePathStyle: where.forcePathStyle,
    // Checksums only where S3 requires them: self-hosted servers (MinIO, Ceph, s3rver) lag behind AWS's defaults.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS },
  })
  const { bucket } = where
  const server = where.endpoint ?? 'AWS S3'
  const full = (key: string) => [where.prefix, key].filter(Boolean).join('/')
  const relative = (key: string) => (where.prefix ? key.slice(where.prefix.length + 1) : key)

  /**
   * Any failure of the store itself as STORAGE_UNAVAILABLE: callers (tenants, with keys) read what failed and the
   * cause's code, never the bucket or the endpoint; the operator's version, naming them and what to fix, is the
   * error's `cause`, which the log prints.
   */
  const unavailable = (err: unknown): unknown => {
    if (err instanceof AppError || !isStoreError(err)) return err
    const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string }; $metadata?: { httpStatusCode?: number } }
    // Network failures come wrapped by the SDK; the errno (ECONNREFUSED, ENOTFOUND, ETIMEDOUT) is what to fix.
    const cause = e.cause?.code ?? e.code ?? /\b(E[A-Z]{3,})\b/.exec(e.message ?? '')?.[1] ?? e.name ?? 'Error'
    if (e.name === 'NoSuchBucket') return storeMissing(err)
    if (CREDENTIALS.has(e.name ?? '') || e.$metadata?.httpStatusCode === 403) {
      return storeError(`the object store refused the service's credentials (${e.name})`, cause, `the object store at ${server} refused the credentials (${e.name}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the role`, err)
    }
    if (e.$metadata?.httpStatusCode === undefined) return storeError(`the object store is unreachable (${cause})`, cause, `the object store at ${server} is unreachable (${cause})`, err)
    return storeError(`the object store failed (${e.$metadata.httpStatusCode} ${e.name})`, cause, `the object store at ${server} failed (${e.$metadata.httpStatusCode} ${e.name})`, err)
  }
  const storeError = (message: string, cause: string, operator: string, err?: unknown) =>
    new AppError('STORAGE_UNAVAILABLE', message, { cause }, { cause: new Error(`${operator} (s3://${bucket}/${where.prefix})`, { cause: err }) })
  const storeMissing = (err?: unknown) => storeError('the object store is unavailable (NoSuchBucket)', 'NoSuchBucket', `bucket '${bucket}' does not exist at ${server}`, err)
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (err) {
      throw unavailable(err)
    }
  }
  /** Errors of the SDK or the network (they carry `$metadata` or an errno); anything else is a bug of ours. */
  const isStoreError = (err: unknown) => {
    const e = err as { $metadata?: unknown; code?: unknown; name?: string } | undefined
    return e !== undefined && ('$metadata' in e || CREDENTIALS.has(e.name ?? '') || (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)))
  }
  const isNotFound = (err: unknown) => NOT_FOUND.has((err as { name?: string }).name ?? '')

  async function listPages(prefix: string, delimiter?: string): Promise<{ keys: string[]; folders: string[]; bytes: number }> {
    const keys: string[] = []
    const folders: string[] = []
    let bytes = 0
    let token: string | undefined
    do {
      const page: ListObjectsV2CommandOutput = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `${full(prefix)}/`, ...(delimiter && { Delimiter: delimiter }), ...(token && { ContinuationToken: token }) }),
      )
      for (const o of page.Contents ?? []) {
        if (o.Key) keys.push(o.Key)
        bytes += o.Size ?? 0
      }
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) folders.push(p.Prefix)
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return { keys, folders, bytes }
  }

  const putOne = async (key: string, body: Uint8Array | string | Readable): Promise<void> => {
    if (body instanceof Readable) {
      // Multipart: the stream is read part by part, so an archive never sits in memory whole.
      await new Upload({ client, params: { Bucket: bucket, Key: full(key), Body: body }, partSize: PART_BYTES, queueSize: PARTS_IN_FLIGHT }).done()
      return
    }
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: full(key), Body: body }))
  }

  const deleteKeys = async (keys: string[]) => {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH)
      const out = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }))
      const failed = out.Errors?.[0]
      if (failed) throw Object.assign(new Error(`could not delete ${failed.Key}: ${failed.Code}`), { name: failed.Code ?? 'DeleteFailed', $metadata: { httpStatusCode: 500 } })
    }
  }

  /** Runs `work` over `items`, `limit` at a time; the first failure stops the rest from starting. */
  async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
    let next = 0
    const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T)
    })
    await Promise.all(lanes)
  }

  async function localFiles(dir: string, at = ''): Promise<string[]> {
    const out: string[] = []
    for (const entry of await readdir(path.join(dir, at), { withFileTypes: true })) {
      const name = at ? `${at}/${entry.name}` : entry.name
      if (entry.isDirectory()) out.push(...(await localFiles(dir, name)))
      else if (entry.isFile()) out.push(name)
    }
    return out
  }

  async function publish(prefix: string, source: PublishSource, marker: string): Promise<void> {
    const names = 'dir' in source ? await localFiles(source.dir) : Object.keys(source.files)
    if (!names.includes(marker)) throw new Error(`publication of ${prefix} lacks its marker ${marker}`)
    const body = async (name: string): Promise<Uint8Array | string | Readable> => {
      if (!('dir' in source)) return source.files[name] as Uint8Array | string
      const file = path.join(source.dir, name)
      return (await stat(file)).size > PART_BYTES ? createReadStream(file) : readFile(file)
    }
    try {
      await eachLimited(
        names.filter((n) => n !== marker),
        PUBLISH_CONCURRENCY,
        async (name) => putOne(`${prefix}/${name}`, await body(name)),
      )
      await putOne(`${prefix}/${marker}`, await body(marker))
    } catch (err) {
      // Nothing is listed without the marker; the parts written so far are removed when the store lets us.
      await deletePrefix(prefix).catch(() => undefined)
      throw err
    }
  }

  async function deletePrefix(prefix: string, first?: string): Promise<boolean> {
    const { keys } = await listPages(prefix)
    if (keys.length === 0) return false
    const firstKey = first && full(`${prefix}/${first}`)
    if (firstKey && keys.includes(firstKey)) await deleteKeys([firstKey])
    await deleteKeys(keys.filter((k) => k !== firstKey))
    return true
  }

  return {
    location: `s3://${bucket}/${where.prefix}`,
    remote: true,
    put: (key, body) => guard(() => putOne(key, body)),
    get: (key) =>
      guard(async () => {
        try {
          const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: full(key) }))
          return Buffer.from(await out.Body!.transformToByteArray())
        } catch (err) {
          if (isNotFound(err)) return undefined
          throw err
        }
      }),
    stream: (key) =>
      guard(async () => {
        try {
          const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: full(key) }))
          return { body: out.Body as Readable, size: out.ContentLength ?? 0, etag: out.ETag ?? `"${out.ContentLength}"` }
        } catch (err) {
          if (isNotFound(err)) return undefined
          throw err
        }
      }),
    list: (prefix) => guard(async () => (await listPages(prefix)).keys.map(relative).sort()),
    children: (prefix) =>
      guard(async () => {
        const { keys, folders } = await listPages(prefix, '/')
        const start = full(prefix).length + 1
        return [...folders.map((f) => f.slice(start, -1)), ...keys.map((k) => k.slice(start))].sort()
      }),
    size: (prefix) => guard(async () => (await listPages(prefix)).bytes),
    delete: (key) => guard(async () => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(key) })))),
    deletePrefix: (prefix, first) => guard(() => deletePrefix(prefix, first)),
    publish: (prefix, source, marker) =>
      guard(async () => {
        try {
          await publish(prefix, source, marker)
        } finally {
          if ('dir' in source) await rm(source.dir, { recursive: true, force: true })
        }
      }),
    // HeadBucket checks the endpoint, the credentials and the bucket (it needs the same s3:ListBucket right as the
    // repositories' listings) without writing or listing; a list of one key trips s3rver's paging.
    probe: () =>
      guard(async () => {
        try {
          await client.send(new HeadBucketCommand({ Bucket: bucket }))
        } catch (err) {
          if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
            throw storeMissing(err)
          }
          throw err
        }
      }),
    async verifyBucket() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }))
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
        if (status === 404 || (err as { name?: string }).name === 'NoSuchBucket') {
          throw new StorageConfigError(`STORAGE_URL: bucket '${bucket}' does not exist at ${server}; create it first (see README, "Scale out")`)
        }
      }
    },
    close: () => client.destroy(),
  }
}
