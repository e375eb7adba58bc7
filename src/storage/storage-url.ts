/** What `STORAGE_URL=s3://<bucket>/<prefix>?endpoint=<url>&forcePathStyle=true&region=<region>` says. */
export interface S3Location {
  bucket: string
  /** Key prefix without leading or trailing `/`; empty for the bucket's root. */
  prefix: string
  /** An S3-compatible server (MinIO, R2, Ceph RGW); absent means AWS S3. */
  endpoint?: string
  /** Path-style addressing (`endpoint/bucket/key`), which MinIO and most self-hosted servers need. */
  forcePathStyle: boolean
  /** Absent: the SDK's own chain (AWS_REGION, profile), else us-east-1. */
  region?: string
}

/** STORAGE_URL cannot work as written (malformed, or its bucket is missing): the process must not start. */
export class StorageConfigError extends Error {
  override name = 'StorageConfigError'
}

/** S3 bucket naming rules (3–63 characters, lowercase, digits, dots, hyphens). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const QUERY_KEYS = new Set(['endpoint', 'forcePathStyle', 'region'])

/** Parses an `s3://` STORAGE_URL; throws an Error that says what is wrong with it. */
export function parseStorageUrl(value: string): S3Location {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new StorageConfigError(`STORAGE_URL is not a URL: ${value}`)
  }
  if (url.protocol !== 's3:') throw new StorageConfigError(`STORAGE_URL must start with s3:// (empty means DATA_DIR), got ${url.protocol}//`)
  const bucket = url.hostname
  if (!BUCKET.test(bucket)) throw new StorageConfigError(`STORAGE_URL names no valid bucket (3–63 lowercase letters, digits, '.', '-'): '${bucket}'`)
  for (const key of url.searchParams.keys()) {
    if (!QUERY_KEYS.has(key)) throw new StorageConfigError(`STORAGE_URL has an unknown parameter '${key}' (known: endpoint, forcePathStyle, region)`)
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) throw new StorageConfigError(`STORAGE_URL endpoint must be an http(s) URL, got '${endpoint}'`)
  const forcePathStyle = url.searchParams.get('forcePathStyle')
  if (forcePathStyle !== null && forcePathStyle !== 'true' && forcePathStyle !== 'false') {
    throw new StorageConfigError(`STORAGE_URL forcePathStyle must be true or false, got '${forcePathStyle}'`)
  }
  const region = url.searchParams.get('region') || undefined
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '')
  return { bucket, prefix, ...(endpoint && { endpoint }), forcePathStyle: forcePathStyle === 'true', ...(region && { region }) }
}
