import * as tf from '@tensorflow/tfjs'
import sharp, { type Metadata } from 'sharp'
import type { Preprocessing } from '../contract/jobs.js'
import { AppError } from '../errors.js'

/** `value × scale + offset` per preprocessing. */
const SCALING: Record<Preprocessing, [scale: number, offset: number]> = {
  scale_0_1: [1 / 255, 0],
  'scale_-1_1': [1 / 127.5, -1],
  raw_0_255: [1, 0],
}

/** Formats sharp decodes that we accept as images. */
const FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif', 'bmp'])

export interface DecodeOptions {
  /** Largest width × height accepted before decoding (decompression-bomb guard), in pixels. */
  maxPixels: number
}

/**
 * Decodes an encoded image into RGB bytes of `size × size × 3` (row-major, HWC): EXIF orientation applied,
 * alpha flattened onto white, converted to sRGB, greyscale expanded to 3 channels, scaled to cover the square
 * and centre-cropped. Animated images give their first frame.
 * @throws AppError UNSUPPORTED_MEDIA_TYPE (a recognised format we do not read, e.g. SVG), IMAGE_TOO_LARGE (over
 *   maxPixels), IMAGE_INVALID (bytes of no known format, corrupt or truncated).
 */
export async function decodeImage(bytes: Uint8Array, size: number, opts: DecodeOptions): Promise<Uint8Array> {
  let meta: Metadata
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata()
  } catch (err) {
    throw decodeError(err)
  }
  if (!meta.format || !FORMATS.has(meta.format)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `unsupported image format '${meta.format ?? 'unknown'}'`, { format: meta.format })
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0)
  if (pixels > opts.maxPixels) {
    throw new AppError('IMAGE_TOO_LARGE', `image is ${meta.width}x${meta.height} = ${pixels} pixels, more than the limit of ${opts.maxPixels}`, {
      width: meta.width,
      height: meta.height,
      maxPixels: opts.maxPixels,
    })
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: opts.maxPixels, failOn: 'error' })
      .rotate()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true })
    return toRgb(data, info.channels, size)
  } catch (err) {
    throw decodeError(err)
  }
}

/**
 * Decodes a small generated PNG once, so the process's first real decode does not also pay libvips' start-up (its
 * threads and codecs): the first batch of a child's first job waited 130–161 ms for its pixels without this,
 * 82–105 ms with it (bench/job's 136 images, worker log).
 */
export async function warmUpDecoder(size: number): Promise<void> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer()
  await decodeImage(png, size, { maxPixels: 64 })
}

function toRgb(data: Buffer, channels: number, size: number): Uint8Array {
  const n = size * size
  if (channels === 3 && data.length === n * 3) return new Uint8Array(data.buffer, data.byteOffset, data.length)
  if (channels < 1 || data.length !== n * channels) throw new AppError('IMAGE_INVALID', `decoder returned ${channels} channels`)
  const out = new Uint8Array(n * 3)
  for (let i = 0; i < n; i++) {
    const grey = channels < 3
    out[i * 3] = data[i * channels]!
    out[i * 3 + 1] = data[i * channels + (grey ? 0 : 1)]!
    out[i * 3 + 2] = data[i * channels + (grey ? 0 : 2)]!
  }
  return out
}

function decodeError(err: unknown): AppError {
  if (err instanceof AppError) return err
  const why = err instanceof Error ? err.message : String(err)
  // Bytes no decoder recognises are a broken image (400); 415 is kept for formats recognised but not served.
  if (/unsupported image format/i.test(why)) return new AppError('IMAGE_INVALID', 'not a readable image: expected JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF bytes')
  if (/pixel limit/i.test(why)) return new AppError('IMAGE_TOO_LARGE', `image exceeds the pixel limit: ${why}`)
  return new AppError('IMAGE_INVALID', `image cannot be decoded: ${why}`)
}

/**
 * Stacks decoded images into the base's input: `[n, size, size, 3]` float32, scaled per `preprocessing`.
 * @param pixels each `size × size × 3` RGB bytes from `decodeImage`
 */
export function toInputTensor(pixels: Uint8Array[], size: number, preprocessing: Preprocessing): tf.Tensor4D {
  const per = size * size * 3
  const [scale, offset] = SCALING[preprocessing]
  const data = new Float32Array(pixels.length * per)
  pixels.forEach((p, i) => {
    if (p.length !== per) throw new Error(`image ${i} has ${p.length} bytes, expected ${per}`)
    const base = i * per
    // Raw values (the default base) convert in one native copy: a JS loop was 6 % of an extraction thread's time.
    if (scale === 1 && offset === 0) data.set(p, base)
    else for (let j = 0; j < per; j++) data[base + j] = p[j]! * scale + offset
  })
  // Scaled here in one pass: one tensor upload, no intermediate tensors to dispose.
  return tf.tensor4d(data, [pixels.length, size, size, 3])
}
