import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { AppError } from '../../src/errors.js'
import { initBackend } from '../../src/ml/backend.js'
import { decodeImage, toInputTensor } from '../../src/ml/image.js'

const MAX_PIXELS = 10_000_000

function solid(width: number, height: number, channels: 3 | 4, colour: { r: number; g: number; b: number; alpha?: number }) {
  return sharp({ create: { width, height, channels, background: colour } })
}

/** Pixel (x, y) of an RGB `size²` buffer. */
function at(rgb: Uint8Array, size: number, x: number, y: number): number[] {
  const i = (y * size + x) * 3
  return [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!]
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    return (err as AppError).code
  }
  throw new Error('expected a rejection')
}

beforeAll(async () => {
  await initBackend('wasm')
})

describe('decodeImage', () => {
  test('gives size² × 3 RGB bytes, centre-cropped', async () => {
    // 60×20: left third red, middle green, right third blue → cover-crop keeps the green middle.
    const left = await solid(20, 20, 3, { r: 255, g: 0, b: 0 }).png().toBuffer()
    const right = await solid(20, 20, 3, { r: 0, g: 0, b: 255 }).png().toBuffer()
    const bytes = await solid(60, 20, 3, { r: 0, g: 255, b: 0 })
      .composite([{ input: left, left: 0, top: 0 }, { input: right, left: 40, top: 0 }])
      .png()
      .toBuffer()
    const rgb = await decodeImage(bytes, 16, { maxPixels: MAX_PIXELS })
    expect(rgb).toBeInstanceOf(Uint8Array)
    expect(rgb.length).toBe(16 * 16 * 3)
    expect(at(rgb, 16, 8, 8)).toEqual([0, 255, 0])
    expect(at(rgb, 16, 0, 0)[1]).toBeGreaterThan(200)
    expect(at(rgb, 16, 15, 15)[1]).toBeGreaterThan(200)
  })

  test('flattens transparency onto white', async () => {
    const bytes = await solid(10, 10, 4, { r: 0, g: 0, b: 0, alpha: 0 }).png().toBuffer()
    const rgb = await decodeImage(bytes, 8, { maxPixels: MAX_PIXELS })
    expect(at(rgb, 8, 4, 4)).toEqual([255, 255, 255])
  })

  test('expands greyscale to three equal channels', async () => {
    const bytes = await solid(12, 12, 3, { r: 90, g: 90, b: 90 }).toColourspace('b-w').png().toBuffer()
    expect((await sharp(bytes).metadata()).channels).toBe(1)
    const [r, g, b] = at(await decodeImage(bytes, 8, { maxPixels: MAX_PIXELS }), 8, 3, 3)
    expect(r).toBe(g)
    expect(g).toBe(b)
    expect(Math.abs(r! - 90)).toBeLessThanOrEqual(2)
  })

  test('applies EXIF orientation', async () => {
    // 40×20 stored, top half red, bottom half blue; orientation 6 shows it rotated 90° clockwise (20×40),
    // so after the rotation red is on the right.
    const red = await solid(40, 10, 3, { r: 255, g: 0, b: 0 }).png().toBuffer()
    const bytes = await solid(40, 20, 3, { r: 0, g: 0, b: 255 })
      .composite([{ input: red, left: 0, top: 0 }])
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer()
    const rgb = await decodeImage(bytes, 20, { maxPixels: MAX_PIXELS })
    expect(at(rgb, 20, 18, 10)[0]).toBeGreaterThan(200)
    expect(at(rgb, 20, 1, 10)[2]).toBeGreaterThan(200)
  })

  test('rejects what is not an image, a truncated image, and a pixel bomb', async () => {
    expect(await code(decodeImage(Buffer.from('definitely not an image'), 8, { maxPixels: MAX_PIXELS }))).toBe('IMAGE_INVALID')
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>')
    expect(await code(decodeImage(svg, 8, { maxPixels: MAX_PIXELS }))).toBe('UNSUPPORTED_MEDIA_TYPE')
    const jpeg = await solid(64, 64, 3, { r: 1, g: 2, b: 3 }).jpeg().toBuffer()
    expect(await code(decodeImage(jpeg.subarray(0, jpeg.length / 3), 8, { maxPixels: MAX_PIXELS }))).toBe('IMAGE_INVALID')
    const big = await solid(200, 200, 3, { r: 1, g: 2, b: 3 }).png().toBuffer()
    const err = await decodeImage(big, 8, { maxPixels: 100 * 100 }).catch((e: unknown) => e as AppError)
    expect(err).toMatchObject({ code: 'IMAGE_TOO_LARGE', details: { width: 200, height: 200, maxPixels: 10_000 } })
  })
})

describe('toInputTensor', () => {
  test('stacks and scales per preprocessing, leaking nothing', () => {
    const before = tf.memory().numTensors
    const a = new Uint8Array(2 * 2 * 3).fill(255)
    const b = new Uint8Array(2 * 2 * 3).fill(0)
    const x01 = toInputTensor([a, b], 2, 'scale_0_1')
    const x11 = toInputTensor([a, b], 2, 'scale_-1_1')
    const raw = toInputTensor([a.map((_, i) => i * 20), b], 2, 'raw_0_255')
    expect(Array.from(raw.dataSync().slice(0, 4))).toEqual([0, 20, 40, 60])
    expect(raw.dtype).toBe('float32')
    expect(x01.shape).toEqual([2, 2, 2, 3])
    expect(Array.from(x01.dataSync().slice(0, 1))).toEqual([1])
    expect(x01.dataSync()[12]).toBe(0)
    expect(x11.dataSync()[0]).toBeCloseTo(1)
    expect(x11.dataSync()[12]).toBeCloseTo(-1)
    tf.dispose([x01, x11, raw])
    expect(tf.memory().numTensors).toBe(before)
    expect(() => toInputTensor([a], 3, 'scale_0_1')).toThrow(/expected 27/)
  })
})
