import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { MultipartFile } from '@fastify/multipart'
import { AppError } from '../errors.js'
import { asStorageError } from '../storage/storage-error.js'
import { asMultipartError } from './multipart-errors.js'

/** @fastify/multipart's error when a file passes `limits.fileSize` while it streams. */
const FILE_TOO_LARGE = 'FST_REQ_FILE_TOO_LARGE'

export function uploadTooLarge(maxBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `upload exceeds ${maxBytes} bytes`, { limit: 'MAX_UPLOAD_BYTES', max: maxBytes })
}

/**
 * Streams one multipart file to a new temp file under `dir` (a 2 GiB upload never sits in memory) and returns its
 * path, which the caller removes when done. Over `maxBytes` is PAYLOAD_TOO_LARGE, a malformed body
 * MULTIPART_INVALID, a disk that fails STORAGE_UNAVAILABLE; on any failure the partial file is removed here.
 */
export async function saveUpload(part: MultipartFile, dir: string, suffix: string, maxBytes: number): Promise<string> {
  const file = path.join(dir, `${randomUUID()}${suffix}`)
  try {
    try {
      await mkdir(dir, { recursive: true })
      await pipeline(part.file, createWriteStream(file))
    } catch (err) {
      if ((err as { code?: string }).code === FILE_TOO_LARGE) throw uploadTooLarge(maxBytes)
      throw asStorageError(asMultipartError(err))
    }
    if (part.file.truncated) throw uploadTooLarge(maxBytes)
    return file
  } catch (err) {
    await rm(file, { force: true }).catch(() => undefined) // the error above is the one the client needs
    throw err
  }
}
