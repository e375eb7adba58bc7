import { AppError } from '../errors.js'

/**
 * A malformed multipart body as `MULTIPART_INVALID` (400). @fastify/busboy reports one (no boundary, a body cut short,
 * a broken part header) as a plain Error without a `code`, while @fastify/multipart's own limits and file-system
 * errors carry one: those are returned unchanged for their own handling.
 */
export function asMultipartError(err: unknown): unknown {
  if (err instanceof AppError || !(err instanceof Error) || 'code' in err) return err
  return new AppError('MULTIPART_INVALID', `malformed multipart body: ${err.message}`)
}
