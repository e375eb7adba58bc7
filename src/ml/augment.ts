import { createHash } from 'node:crypto'
import sharp, { type Sharp } from 'sharp'
import { seededRandom } from './random.js'

/** Which random changes make an augmented view; each on/off, strengths fixed below. */
export interface AugmentSpec {
  /** Mirror left-right with probability 1/2. */
  flip: boolean
  /** Keep a random square of 75–100 % of the side, scaled back up. */
  crop: boolean
  /** Rotate by up to ±15°, corners filled white (as decoding flattens alpha onto white). */
  rotate: boolean
  /** Shift brightness by up to ±20 % of the range. */
  brightness: boolean
  /** Scale contrast around mid-grey by 0.8–1.2. */
  contrast: boolean
  /** Augmented views per training image, each embedded once and cached. */
  views: number
}

const MIN_CROP = 0.75
const MAX_DEGREES = 15
const MAX_BRIGHTNESS = 0.2
const MAX_CONTRAST = 0.2
const WHITE = { r: 255, g: 255, b: 255 }

/**
 * Cache-key suffix of view `k` under `spec`: `aug<k>-<8 hex>`; the hash covers the switches, so changing them
 * never reuses stale views, while the same spec reuses them across jobs.
 */
export function viewKeySuffix(spec: AugmentSpec, k: number): string {
  const switches = [spec.flip, spec.crop, spec.rotate, spec.brightness, spec.contrast].map(Number).join('')
  return `aug${k}-${createHash('sha256').update(`v1:${switches}`).digest('hex').slice(0, 8)}`
}

/**
 * One augmented view of a decoded image. The randomness is seeded by the image's hash and `k`, so a view is the
 * same in every job and on every machine (and may be cached under `viewKeySuffix`).
 * @param pixels `size × size × 3` RGB bytes from `decodeImage`
 * @returns new `size × size × 3` RGB bytes
 */
export async function augmentView(pixels: Uint8Array, size: number, spec: AugmentSpec, imageKey: string, k: number): Promise<Uint8Array> {
  const random = seededRandom(Number.parseInt(createHash('sha256').update(`${imageKey}:${k}`).digest('hex').slice(0, 8), 16))
  const raw = { raw: { width: size, height: size, channels: 3 as const } }
  let img = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)
  const toRaw = async (s: Sharp) => (await s.raw().toBuffer({ resolveWithObject: true })).data

  if (spec.rotate) {
    const degrees = (random() * 2 - 1) * MAX_DEGREES
    const rotated = await sharp(img, raw).rotate(degrees, { background: WHITE }).raw().toBuffer({ resolveWithObject: true })
    const { width, height } = rotated.info
    // Rotating grows the canvas; keep its centre at the original size.
    img = await toRaw(
      sharp(rotated.data, { raw: { width, height, channels: 3 } }).extract({
        left: Math.floor((width - size) / 2),
        top: Math.floor((height - size) / 2),
        width: size,
        height: size,
      }),
    )
  }
  if (spec.crop) {
    const side = Math.max(1, Math.round(size * (MIN_CROP + random() * (1 - MIN_CROP))))
    const left = Math.floor(random() * (size - side + 1))
    const top = Math.floor(random() * (size - side + 1))
    img = await toRaw(sharp(img, raw).extract({ left, top, width: side, height: side }).resize(size, size))
  }
  if (spec.flip && random() < 0.5) img = await toRaw(sharp(img, raw).flop())
  const contrast = spec.contrast ? 1 + (random() * 2 - 1) * MAX_CONTRAST : 1
  const shift = spec.brightness ? (random() * 2 - 1) * MAX_BRIGHTNESS * 255 : 0
  if (contrast !== 1 || shift !== 0) {
    const out = new Uint8Array(img.length)
    for (let i = 0; i < img.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((img[i]! - 128) * contrast + 128 + shift)))
    return out
  }
  return new Uint8Array(img.buffer, img.byteOffset, img.byteLength)
}
