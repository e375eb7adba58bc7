import { AppError } from '../errors.js'

/** errno codes that mean the disk (not the request) is at fault: full, read-only, gone or not a folder. */
const STORAGE_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EIO', 'EEXIST', 'EISDIR'])

/**
 * A file-system failure as `STORAGE_UNAVAILABLE` (503), so a full or unwritable DATA_DIR reads as what it is
 * rather than a generic 500; anything else is returned unchanged.
 */
export function asStorageError(err: unknown): unknown {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code
  if (err instanceof AppError || typeof errno !== 'string' || !STORAGE_ERRNOS.has(errno)) return err
  return new AppError('STORAGE_UNAVAILABLE', `storage is unavailable (${errno}); nothing was stored`, { errno })
}
