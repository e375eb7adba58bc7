import type { FeatureCache } from './features.js'
import { abortError } from './abort.js'
import { decodeImage } from './image.js'

/**
 * Pixel thumbnails for the near-duplicate search: the features of a general-purpose base move a lot under
 * resizing and JPEG re-encoding (bench/label-issues.ts), a blurred grey thumbnail hardly at all. Each descriptor
 * is two {@link THUMB_SIDE}² grey thumbnails, each zero-mean and unit-length (so their dot product is a normalised
 * cross-correlation): the whole image, then its centre {@link INNER_SHARE} (which matches a slightly cropped
 * copy's whole).
 */
export const THUMB_SIDE = 8
/** Side of the square decoded before averaging into blocks: 10 × 8 for the whole, 9 × 8 for the centre. */
const WORK_SIDE = 80
const INNER_SIDE = 72
export const INNER_SHARE = INNER_SIDE / WORK_SIDE
/**
 * Box blur (pixels of the 80² square, rows then columns) before averaging into blocks: a copy resized down and
 * back shifts edges by a pixel or two, and without it the correlation of half the resized 28-px digits dropped
 * below the threshold (bench/label-issues.ts).
 */
const BLUR_RADIUS = 3
/** Values per descriptor: the whole image's thumbnail, then the centre's. */
export const THUMBNAIL_LENGTH = 2 * THUMB_SIDE * THUMB_SIDE
/** Feature-cache folder of the descriptors; a new layout needs a new name. */
export const THUMBNAIL_CACHE_ID = 'thumbnails-8'
const CACHE_READS = 32

/** The descriptor of one encoded image (decoded as for embedding: EXIF, alpha on white, centre square). */
export async function thumbnailDescriptor(bytes: Uint8Array, maxPixels: number): Promise<Float32Array> {
  return thumbnailFromPixels(await decodeImage(bytes, WORK_SIDE, { maxPixels }), WORK_SIDE)
}

/**
 * The descriptor of an image already decoded for embedding (`decodeImage` output at any side): its grey square is
 * area-averaged down to the working side, so feature extraction gets the thumbnails without a second decode. It
 * differs from {@link thumbnailDescriptor}'s own decode by resampling only, far below what the blur smooths away
 * (the tests hold both to a correlation of 0.99).
 */
export function thumbnailFromPixels(rgb: Uint8Array, side: number): Float32Array {
  const grey = greyAreaResize(rgb, side, WORK_SIDE)
  boxBlur(grey, BLUR_RADIUS)
  const out = new Float32Array(THUMBNAIL_LENGTH)
  out.set(blocks(grey, 0, WORK_SIDE / THUMB_SIDE), 0)
  out.set(blocks(grey, (WORK_SIDE - INNER_SIDE) / 2, INNER_SIDE / THUMB_SIDE), THUMB_SIDE * THUMB_SIDE)
  return out
}

/**
 * The grey of a `from`² RGB square, area-averaged to `to`² (each output pixel the mean of the input area it covers;
 * at `from === to` the grey itself): rows first, the grey computed as each pixel is read, then columns.
 */
function greyAreaResize(rgb: Uint8Array, from: number, to: number): Float32Array {
  const { first, count, weight, most } = areaTaps(from, to)
  const rows = new Float32Array(from * to) // each row resized: `from` rows of `to`
  for (let y = 0; y < from; y++) {
    for (let x = 0; x < to; x++) {
      let sum = 0
      for (let k = 0; k < count[x]!; k++) {
        const i = 3 * (y * from + first[x]! + k)
        sum += (0.299 * rgb[i]! + 0.587 * rgb[i + 1]! + 0.114 * rgb[i + 2]!) * weight[x * most + k]!
      }
      rows[y * to + x] = sum
    }
  }
  const out = new Float32Array(to * to)
  for (let y = 0; y < to; y++) {
    for (let k = 0; k < count[y]!; k++) {
      const w = weight[y * most + k]!
      const row = (first[y]! + k) * to
      for (let x = 0; x < to; x++) out[y * to + x]! += rows[row + x]! * w
    }
  }
  return out
}

const tapsBySize = new Map<string, ReturnType<typeof makeAreaTaps>>()

/** {@link makeAreaTaps}, made once per pair of sides. */
function areaTaps(from: number, to: number) {
  const key = `${from}>${to}`
  let taps = tapsBySize.get(key)
  if (!taps) tapsBySize.set(key, (taps = makeAreaTaps(from, to)))
  return taps
}

/**
 * Per output index: the first input index it covers, how many, and their shares (summing to 1), in flat typed
 * arrays (`most` shares per output) so the loops above allocate nothing.
 */
function makeAreaTaps(from: number, to: number) {
  const scale = from / to
  const most = Math.ceil(scale) + 1
  const first = new Int32Array(to)
  const count = new Int32Array(to)
  const weight = new Float32Array(to * most)
  for (let i = 0; i < to; i++) {
    const start = i * scale
    const end = start + scale
    first[i] = Math.floor(start)
    for (let at = first[i]!; at < Math.min(from, Math.ceil(end)); at++) {
      const overlap = Math.min(end, at + 1) - Math.max(start, at)
      weight[i * most + count[i]!] = overlap / scale
      count[i]!++
    }
  }
  return { first, count, weight, most }
}

/**
 * Descriptors of every item: those in `known` (made from pixels decoded for embedding) are cached and used, the rest
 * come from the cache (keyed like features, under {@link THUMBNAIL_CACHE_ID}), so a repeat job decodes nothing, or
 * else from a decode of their own.
 */
export async function thumbnailDescriptors(
  items: readonly { key: string; read(): Promise<Uint8Array> }[],
  opts: { cache: FeatureCache; maxPixels: number; signal?: AbortSignal | undefined; known?: ReadonlyMap<string, Float32Array> },
): Promise<Float32Array[]> {
  const out: Float32Array[] = []
  for (let i = 0; i < items.length; i += CACHE_READS) {
    if (opts.signal?.aborted) throw abortError(opts.signal)
    const slice = items.slice(i, i + CACHE_READS)
    out.push(
      ...(await Promise.all(
        slice.map(async (item) => {
          const made = opts.known?.get(item.key)
          if (made) {
            await opts.cache.put(THUMBNAIL_CACHE_ID, item.key, made)
            return made
          }
          const hit = await opts.cache.get(THUMBNAIL_CACHE_ID, item.key)
          if (hit && hit.length === THUMBNAIL_LENGTH) return hit
          const descriptor = await thumbnailDescriptor(await item.read(), opts.maxPixels)
          await opts.cache.put(THUMBNAIL_CACHE_ID, item.key, descriptor)
          return descriptor
        }),
      )),
    )
  }
  return out
}

/** Means of `block`² squares from (`offset`, `offset`), THUMB_SIDE per side, then zero-mean and unit-length. */
function blocks(grey: Float32Array, offset: number, block: number): Float32Array {
  const out = new Float32Array(THUMB_SIDE * THUMB_SIDE)
  for (let by = 0; by < THUMB_SIDE; by++) {
    for (let bx = 0; bx < THUMB_SIDE; bx++) {
      let sum = 0
      for (let y = 0; y < block; y++) {
        const row = (offset + by * block + y) * WORK_SIDE + offset + bx * block
        for (let x = 0; x < block; x++) sum += grey[row + x]!
      }
      out[by * THUMB_SIDE + bx] = sum / (block * block)
    }
  }
  const mean = out.reduce((s, v) => s + v, 0) / out.length
  let norm = 0
  for (let i = 0; i < out.length; i++) {
    out[i]! -= mean
    norm += out[i]! ** 2
  }
  // A flat image (one colour) has no pattern to correlate: it stays all zeros and matches nothing.
  norm = Math.sqrt(norm)
  if (norm > 1e-6) for (let i = 0; i < out.length; i++) out[i]! /= norm
  return out
}

/** A box blur of `radius` in place, rows then columns (edges average what lies inside). */
function boxBlur(grey: Float32Array, radius: number): void {
  const tmp = new Float32Array(grey.length)
  blurLines(grey, tmp, 1, WORK_SIDE, radius)
  blurLines(tmp, grey, WORK_SIDE, 1, radius)
}

/** Each line of the square (`step` apart along it, `lineStride` between lines) averaged over ±`radius`. */
function blurLines(src: Float32Array, dst: Float32Array, step: number, lineStride: number, radius: number): void {
  for (let line = 0; line < WORK_SIDE; line++) {
    const base = line * lineStride
    for (let i = 0; i < WORK_SIDE; i++) {
      const lo = Math.max(0, i - radius)
      const hi = Math.min(WORK_SIDE - 1, i + radius)
      let sum = 0
      for (let k = lo; k <= hi; k++) sum += src[base + k * step]!
      dst[base + i * step] = sum / (hi - lo + 1)
    }
  }
}
