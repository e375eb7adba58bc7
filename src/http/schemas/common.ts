import { Type } from 'typebox'

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
})

/** Our ids are lowercase UUIDs; the pattern also keeps `../` and friends out of any path. */
export const IdSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' })
export const IdParamsSchema = Type.Object({ id: IdSchema })

export const NoContentSchema = Type.Null({ description: 'No content' })

/** The error body under a description of when that status happens; the codes are those of src/errors.ts. */
const errorResponse = (description: string) => Type.Object(ErrorSchema.properties, { description })

/** Uploads only: the body stopped arriving. */
export const uploadTimeoutResponse = errorResponse('No byte of the body arrived for UPLOAD_IDLE_TIMEOUT_MS (REQUEST_TIMEOUT); the connection is closed')

/** Routes that store bytes (uploads, training jobs): the project is over its storage quota. */
export const storageQuotaResponse = errorResponse('The project holds its storage quota already (STORAGE_QUOTA_EXCEEDED); details name the limit, the bytes held and the maximum')

/** Error responses every route may give. */
export const errorResponses = {
  400: errorResponse('Bad input (VALIDATION, IMAGE_INVALID, ARCHIVE_INVALID, MULTIPART_INVALID, DATASET_INVALID, TOO_FEW_CLASSES)'),
  401: errorResponse('No valid API key (UNAUTHORIZED)'),
  403: errorResponse('The key lacks the scope, or the URL points at a forbidden address (FORBIDDEN, URL_FORBIDDEN)'),
  404: errorResponse('No such resource in the caller\'s project, or one of another project (NOT_FOUND, DATASET_NOT_FOUND, JOB_NOT_FOUND, MODEL_NOT_FOUND, ALIAS_NOT_FOUND, BASE_NOT_FOUND, PROJECT_NOT_FOUND, KEY_NOT_FOUND)'),
  409: errorResponse('Conflicts with the resource state (DATASET_IN_USE, BASE_IN_USE, BASE_EXISTS, JOB_FINISHED, JOB_CANCELLED, MODEL_NOT_READY, MODEL_IN_USE, PROJECT_BUSY, PROJECT_PROTECTED)'),
  413: errorResponse('Body over a size limit (PAYLOAD_TOO_LARGE, IMAGE_TOO_LARGE); details name the limit'),
  415: errorResponse('Content type not accepted (UNSUPPORTED_MEDIA_TYPE)'),
  422: errorResponse('Well-formed but unusable input (IMAGE_FETCH_FAILED, BASE_MODEL_INVALID, REVISION_INVALID, IDEMPOTENCY_KEY_REUSED)'),
  429: errorResponse('Over a rate or concurrency limit (RATE_LIMITED, TOO_MANY_UPLOADS, TOO_MANY_QUEUED_JOBS); details name the limit'),
  500: errorResponse('Unexpected failure (INTERNAL); the log has the details under the request id'),
  503: errorResponse('A dependency is down (QUEUE_UNAVAILABLE; STORAGE_UNAVAILABLE: DATA_DIR full or unwritable, S3 store unreachable or refusing the credentials, with the cause)'),
}
