/**
 * Every error the service can report, with its HTTP status. The HTTP edge is the only place a code becomes a
 * status; workers carry the same codes through BullMQ's failed reason so a job's `error.code` matches.
 */
export const HTTP_STATUS = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  URL_FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALIAS_NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  BASE_NOT_FOUND: 404,
  PROJECT_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  DATASET_IN_USE: 409,
  BASE_IN_USE: 409,
  BASE_EXISTS: 409,
  JOB_FINISHED: 409,
  JOB_CANCELLED: 409,
  MODEL_NOT_READY: 409,
  /** A model that aliases point at; `details.aliases` names them. */
  MODEL_IN_USE: 409,
  /** A project with queued or running jobs cannot be deleted; `details.jobs` counts them. */
  PROJECT_BUSY: 409,
  /** Project names are unique, compared without case (`details.id` names the holder). */
  PROJECT_EXISTS: 409,
  /** The `default` project holds the store's root and the API_KEYS keys: it cannot be deleted. */
  PROJECT_PROTECTED: 409,
  /** A body that stopped arriving (UPLOAD_IDLE_TIMEOUT_MS without a byte). */
  REQUEST_TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ARCHIVE_INVALID: 400,
  /** A multipart body the parser cannot read: no boundary, cut short, a broken part header. */
  MULTIPART_INVALID: 400,
  DATASET_INVALID: 400,
  TOO_FEW_CLASSES: 400,
  /** Training options that do not fit the base (too many fine-tune layers, fine-tuning a GraphModel); a class weight for a missing class is VALIDATION, at POST /jobs and in the worker alike. */
  OPTIONS_INVALID: 400,
  IMAGE_INVALID: 400,
  IMAGE_TOO_LARGE: 413,
  IMAGE_FETCH_FAILED: 422,
  /** A dataset revision that names unknown paths, changes nothing, or leaves a class empty. */
  REVISION_INVALID: 422,
  RATE_LIMITED: 429,
  TOO_MANY_UPLOADS: 429,
  TOO_MANY_QUEUED_JOBS: 429,
  /** The project holds its storage quota already; `details` name the limit, the bytes held and the maximum. */
  STORAGE_QUOTA_EXCEEDED: 507,
  BASE_MODEL_INVALID: 422,
  /** An Idempotency-Key sent again with a different body (IETF Idempotency-Key draft, Stripe). */
  IDEMPOTENCY_KEY_REUSED: 422,
  TRAINING_FAILED: 500,
  QUEUE_UNAVAILABLE: 503,
  /** The store cannot be used now: a full or unwritable disk, an unreachable bucket, refused credentials. */
  STORAGE_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const

export type ErrorCode = keyof typeof HTTP_STATUS

/** An expected failure with a machine-readable code; `details` is JSON that explains it (limits, paths). */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** `cause`: what only the log shows (pino prints the chain), beside the message every caller sees. */
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'AppError'
  }
}

/**
 * What a caller may read of an infrastructure fault: its errno (ECONNREFUSED, ETIMEDOUT…) or else the error's name,
 * never its message, which names hosts, ports, buckets and paths (those go to the log).
 */
export function causeCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | undefined
  if (typeof e?.code === 'string') return e.code
  const errno = /\b(E[A-Z]{3,})\b/.exec(typeof e?.message === 'string' ? e.message : '')?.[1]
  return errno ?? (typeof e?.name === 'string' ? e.name : 'Error')
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(HTTP_STATUS, value)
}
