import sharp from 'sharp'
import { findNearDuplicates, PIXEL_THRESHOLD } from '../../src/ml/near-duplicates.js'
import { decodeImage } from '../../src/ml/image.js'
import { THUMBNAIL_CACHE_ID, thumbnailDescriptor, thumbnailDescriptors, thumbnailFromPixels } from '../../src/ml/thumbnails.js'
import type { FeatureCache } from '../../src/storage/features.js'
import { makeImage } from '../helpers/images.js'

const MAX_PIXELS = 1_000_000
const HALF = 64

/** Normalised cross-correlation the near-duplicate search uses: whole vs whole, centre vs whole both ways. */
function correlation(a: Float32Array, b: Float32Array): number {
  const dot = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i]!, 0)
  const [wa, ca, wb, cb] = [a.subarray(0, HALF), a.subarray(HALF), b.subarray(0, HALF), b.subarray(HALF)]
  return Math.max(dot(wa, wb), dot(ca, wb), dot(wa, cb))
}

/** The cache port over a map, so a test sees what was stored under which key. */
function keptInMemory(): { cache: FeatureCache; stored: Map<string, Float32Array> } {
  const stored = new Map<string, Float32Array>()
  return { stored, cache: { get: async (id, key) => stored.get(`${id}/${key}`), put: async (id, key, vec) => void stored.set(`${id}/${key}`, vec) } }
}

async function copiesOf(bytes: Buffer): Promise<Record<string, Buffer>> {
  return {
    resized: await sharp(bytes).resize(48, 48).png().toBuffer(),
    jpeg: await sharp(bytes).jpeg({ quality: 60 }).toBuffer(),
    crop: await sharp(bytes).extract({ left: 5, top: 5, width: 86, height: 86 }).png().toBuffer(),
  }
}

describe('pixel thumbnails', () => {
  it('correlate resized, re-encoded and slightly cropped copies above the threshold, distinct pictures below', async () => {
    const original = await makeImage('yellow-triangle', { size: 96, seed: 1 })
    const mine = await thumbnailDescriptor(original, MAX_PIXELS)
    for (const [kind, copy] of Object.entries(await copiesOf(original))) {
      const score = correlation(mine, await thumbnailDescriptor(copy, MAX_PIXELS))
      if (score < PIXEL_THRESHOLD) throw new Error(`${kind} copy correlates ${score}, below ${PIXEL_THRESHOLD}`)
    }
    for (let seed = 2; seed < 8; seed++) {
      const other = await thumbnailDescriptor(await makeImage('yellow-triangle', { size: 96, seed }), MAX_PIXELS)
      expect(correlation(mine, other)).toBeLessThan(PIXEL_THRESHOLD)
    }
  })

  it('made from pixels decoded for embedding, at any side, match their own decode', async () => {
    const images = await Promise.all((['yellow-triangle', 'red-circle', 'yellow-triangle'] as const).map((kind, seed) => makeImage(kind, { size: 96, seed: seed + 1 })))
    const own = await Promise.all(images.map((b) => thumbnailDescriptor(b, MAX_PIXELS)))
    for (const side of [224, 320, 299, 64]) {
      const made = await Promise.all(images.map(async (b) => thumbnailFromPixels(await decodeImage(b, side, { maxPixels: MAX_PIXELS }), side)))
      made.forEach((m, i) => {
        // Both halves unit-length: the whole and the centre each correlate ≥ 0.99 with the image's own.
        const dot = (from: number) => m.subarray(from, from + HALF).reduce((s, v, k) => s + v * own[i]![from + k]!, 0)
        expect(Math.min(dot(0), dot(HALF))).toBeGreaterThan(0.99)
        // …and not with the other pictures.
        expect(correlation(m, own[(i + 1) % own.length]!)).toBeLessThan(PIXEL_THRESHOLD)
      })
    }
  })

  it('made during extraction are cached and used without decoding again', async () => {
    const { cache, stored } = keptInMemory()
    let reads = 0
    const bytes = await makeImage('red-circle', { seed: 4 })
    const made = thumbnailFromPixels(await decodeImage(bytes, 320, { maxPixels: MAX_PIXELS }), 320)
    const items = [{ key: 'k1', read: async () => (reads++, bytes) }]
    const [got] = await thumbnailDescriptors(items, { cache, maxPixels: MAX_PIXELS, known: new Map([['k1', made]]) })
    expect(reads).toBe(0)
    expect(got).toBe(made)
    expect(stored.get(`${THUMBNAIL_CACHE_ID}/k1`)).toBe(made)
  })

  it('are cached by content key, so a repeat decodes nothing', async () => {
    const { cache, stored } = keptInMemory()
    let reads = 0
    const bytes = await makeImage('red-circle', { seed: 3 })
    const items = [{ key: 'k1', read: async () => (reads++, bytes) }]
    const first = await thumbnailDescriptors(items, { cache, maxPixels: MAX_PIXELS })
    const again = await thumbnailDescriptors(items, { cache, maxPixels: MAX_PIXELS })
    expect(reads).toBe(1)
    expect([...stored.keys()]).toEqual([`${THUMBNAIL_CACHE_ID}/k1`])
    expect(again[0]).toEqual(first[0])
  })

  it('let the search pair copies whose features disagree', async () => {
    const originals = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => makeImage('red-circle', { size: 96, seed })))
    const copies = Object.values(await copiesOf(originals[2]!))
    const thumbnails = await Promise.all([...originals, ...copies].map((b) => thumbnailDescriptor(b, MAX_PIXELS)))
    // Orthogonal features: the embedding test can pair nothing, so every pair found is the pixel test's.
    const features = thumbnails.map((_, i) => Float32Array.from({ length: thumbnails.length }, (__, k) => (k === i ? 1 : 0)))
    const pairs = findNearDuplicates(features, thumbnails)
    const copyPairs = pairs.filter((p) => p.a === 2 && p.b >= originals.length)
    expect(copyPairs.map((p) => p.b).sort()).toEqual([6, 7, 8])
    // The copies also pair with one another; no other original pairs with anything.
    expect(pairs.every((p) => [p.a, p.b].every((i) => i === 2 || i >= originals.length))).toBe(true)
  })
})
