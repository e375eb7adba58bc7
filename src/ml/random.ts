/** Floats in [0, 1); `state` is the generator's 32-bit state: `seededRandom(state)` continues the sequence exactly. */
export type SeededRandom = (() => number) & { readonly state: number }

/**
 * A seeded 32-bit PRNG (mulberry32): same seed, same sequence on every platform and backend.
 * @returns a function giving floats in [0, 1)
 */
export function seededRandom(seed: number): SeededRandom {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return Object.defineProperty(next, 'state', { get: () => a }) as SeededRandom
}

/** Fisher–Yates in place with the given random source; returns `items`. */
export function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = items[i]!
    items[i] = items[j]!
    items[j] = tmp
  }
  return items
}
