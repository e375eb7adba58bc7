import sharp from 'sharp'

/**
 * Synthetic picture classes that look nothing alike (colour and shape both differ), so a pretrained ImageNet CNN
 * separates them even though every seed moves, resizes and re-phases the pattern.
 */
export const CLASS_PATTERNS = ['red-circle', 'blue-stripes', 'green-checker', 'yellow-triangle'] as const
export type ClassPattern = (typeof CLASS_PATTERNS)[number]

export interface MakeImageOptions {
  /** Width and height, pixels. @defaultValue 64 */
  size?: number
  /** Varies position, scale, phase and noise; the same seed gives the same bytes. @defaultValue 0 */
  seed?: number
  /** @defaultValue 'png' */
  format?: 'png' | 'jpeg' | 'webp'
}

type Rgb = readonly [number, number, number]
const WHITE: Rgb = [255, 255, 255]
const BLACK: Rgb = [0, 0, 0]
/** Amplitude of the per-pixel noise, so no two images of a class share bytes. */
const NOISE = 12

/** An encoded image of `kind`, different for each seed. */
export async function makeImage(kind: ClassPattern, opts: MakeImageOptions = {}): Promise<Buffer> {
  const { size = 64, seed = 0, format = 'png' } = opts
  const random = mulberry32(hashSeed(kind, seed))
  const paint = painter(kind, size, random)
  const raw = Buffer.alloc(size * size * 3)
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      const colour = paint(x, y)
      for (let c = 0; c < 3; c += 1) {
        const noisy = (colour[c] ?? 0) + Math.round((random() - 0.5) * 2 * NOISE)
        raw[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, noisy))
      }
    }
  }
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } }).toFormat(format).toBuffer()
}

function painter(kind: ClassPattern, size: number, random: () => number): (x: number, y: number) => Rgb {
  switch (kind) {
    case 'red-circle': {
      const r = size * (0.2 + random() * 0.15)
      const cx = r + random() * (size - 2 * r)
      const cy = r + random() * (size - 2 * r)
      return (x, y) => ((x - cx) ** 2 + (y - cy) ** 2 <= r * r ? [220, 20, 30] : WHITE)
    }
    case 'blue-stripes': {
      const period = Math.max(4, Math.round(size * (0.12 + random() * 0.12)))
      const phase = Math.floor(random() * period)
      return (_x, y) => ((y + phase) % period < period / 2 ? [20, 40, 210] : WHITE)
    }
    case 'green-checker': {
      const cell = Math.max(2, Math.round(size * (0.08 + random() * 0.1)))
      const dx = Math.floor(random() * cell)
      const dy = Math.floor(random() * cell)
      return (x, y) => ((Math.floor((x + dx) / cell) + Math.floor((y + dy) / cell)) % 2 === 0 ? [30, 190, 40] : BLACK)
    }
    case 'yellow-triangle': {
      const half = size * (0.25 + random() * 0.2)
      const cx = half + random() * (size - 2 * half)
      const top = random() * (size - 2 * half)
      const height = 2 * half
      // Apex up: the row's half-width grows linearly from 0 at the apex to `half` at the base.
      return (x, y) => {
        const t = (y - top) / height
        return t >= 0 && t <= 1 && Math.abs(x - cx) <= t * half ? [240, 210, 20] : [70, 70, 90]
      }
    }
  }
}

/** A small, fast, seedable PRNG (uniform in [0, 1)). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function hashSeed(kind: string, seed: number): number {
  let h = seed >>> 0
  for (const ch of kind) h = Math.imul(h ^ ch.charCodeAt(0), 0x9e3779b1) >>> 0
  return h
}

/** Labels of `shapePng`'s classes, by index. */
export const SHAPE_LABELS = ['red-circle', 'green-square', 'blue-stripes'] as const

/**
 * A 96 px PNG of class `c` (0: red disc; 1: green square; 2: blue horizontal stripes); `v` moves and resizes the
 * shape and tints the background. `radius` is the shape's smallest half-size in pixels.
 */
export function shapePng(c: number, v: number, radius: number): Promise<Buffer> {
  const s = 96
  const r = radius + (v % 4) * 4
  const cx = 42 + (v % 3) * 6
  const cy = 44 + ((v * 7) % 3) * 4
  const shape = [
    `<circle cx="${cx}" cy="${cy}" r="${r}" fill="rgb(220,30,30)"/>`,
    `<rect x="${cx - r}" y="${cy - r}" width="${2 * r}" height="${2 * r}" fill="rgb(30,180,50)"/>`,
    Array.from({ length: 6 }, (_, i) => `<rect x="0" y="${i * 16 + (v % 4) * 2}" width="${s}" height="8" fill="rgb(30,50,210)"/>`).join(''),
  ][c]
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${s}" height="${s}"><rect width="${s}" height="${s}" fill="rgb(${240 - v * 4},${235 - v * 3},225)"/>${shape}</svg>`
  return sharp(Buffer.from(svg)).png().toBuffer()
}
