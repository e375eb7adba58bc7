import sharp, { type Metadata } from 'sharp'

/** Formats the training pipeline decodes; decided from the bytes (sharp's detection), never the extension. */
export const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const
export type ImageFormat = (typeof ACCEPTED_FORMATS)[number]

export type ImageCheck =
  | { ok: true; format: ImageFormat; width: number; height: number }
  | { ok: false; reason: string }

export interface ValidateImageOptions {
  /** Largest width × height accepted, pixels; a guard against decompression bombs. */
  maxPixels: number
}

/**
 * The decode is only a check, so it renders a thumbnail: libvips still reads every byte, but allocates little.
 * Smaller images are not enlarged to it (a 28 px PNG: 0.9 → 0.5 ms of CPU, most of an upload's time).
 */
const CHECK_SIZE = 32

/**
 * Whether `data` is one whole image of an accepted format: the header is read, then the image decoded to the end
 * (`failOn: 'error'`) so truncated or corrupt files are caught here, not in the middle of a training job.
 */
export async function validateImage(data: Buffer, opts: ValidateImageOptions): Promise<ImageCheck> {
  if (data.length === 0) return { ok: false, reason: 'empty file' }
  let metadata: Metadata
  try {
    // Headers only, so no pixel limit yet: checked below, with the size in the reason.
    metadata = await sharp(data, { failOn: 'error', limitInputPixels: false }).metadata()
  } catch (err) {
    const message = messageOf(err)
    if (/unsupported image format/i.test(message)) return { ok: false, reason: 'not an image (unrecognised content)' }
    return { ok: false, reason: `corrupt or truncated image (${message})` }
  }
  const format = formatOf(metadata)
  if (!isAccepted(format)) return { ok: false, reason: `unsupported image format: ${format}` }
  const { width, height } = metadata
  if (width * height > opts.maxPixels) {
    return { ok: false, reason: `image exceeds ${opts.maxPixels} pixels (${width}x${height})` }
  }
  try {
    await sharp(data, { failOn: 'error', limitInputPixels: opts.maxPixels }).resize(CHECK_SIZE, CHECK_SIZE, { fit: 'inside', withoutEnlargement: true }).raw().toBuffer()
  } catch (err) {
    return { ok: false, reason: `corrupt or truncated image (${messageOf(err)})` }
  }
  return { ok: true, format, width, height }
}

/** sharp reports AVIF and HEIC both as `heif`; the codec tells them apart. */
function formatOf(metadata: Metadata): string {
  if (metadata.format === 'heif') return metadata.compression === 'av1' ? 'avif' : 'heic'
  return metadata.format
}

function isAccepted(format: string): format is ImageFormat {
  return (ACCEPTED_FORMATS as readonly string[]).includes(format)
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''
}
