import sharp from 'sharp'
import { validateImage } from '../../src/datasets/validate-image.js'
import { makeImage } from '../helpers/images.js'

describe('validateImage', () => {
  const opts = { maxPixels: 1_000_000 }

  test.each(['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif'] as const)('accepts %s by content', async (format) => {
    const data = await sharp(await makeImage('yellow-triangle', { size: 32 })).toFormat(format).toBuffer()
    expect(await validateImage(data, opts)).toEqual({ ok: true, format, width: 32, height: 32 })
  })

  test('rejects a truncated JPEG and unsupported formats', async () => {
    const jpeg = await makeImage('blue-stripes', { format: 'jpeg' })
    expect(await validateImage(jpeg.subarray(0, jpeg.length - 200), opts)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^corrupt or truncated image \(.*premature end/i),
    })
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    expect(await validateImage(svg, opts)).toEqual({ ok: false, reason: 'unsupported image format: svg' })
    expect(await validateImage(Buffer.from('plain text'), opts)).toEqual({ ok: false, reason: 'not an image (unrecognised content)' })
  })

  test('rejects truncated images smaller than the check size, which are decoded at their own size', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const small = await makeImage('red-circle', { size: 24, format })
      expect(await validateImage(small, opts)).toMatchObject({ ok: true, width: 24, height: 24 })
      expect(await validateImage(small.subarray(0, Math.floor(small.length * 0.6)), opts)).toEqual({
        ok: false,
        reason: expect.stringMatching(/^corrupt or truncated image/),
      })
    }
  })

  test('makeImage gives different bytes per seed and the same bytes for the same seed', async () => {
    const [a, b, c] = await Promise.all([makeImage('red-circle', { seed: 1 }), makeImage('red-circle', { seed: 1 }), makeImage('red-circle', { seed: 2 })])
    expect(a!.equals(b!)).toBe(true)
    expect(a!.equals(c!)).toBe(false)
  })
})
