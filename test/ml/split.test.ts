import { stratifiedSplit } from '../../src/ml/split.js'

const labels = [...Array(10).fill(0), ...Array(4).fill(1), ...Array(2).fill(2), 3] as number[]

describe('stratifiedSplit', () => {
  test('partitions every index exactly once', () => {
    const { train, val } = stratifiedSplit(labels, 0.2, 7)
    expect([...train, ...val].sort((a, b) => a - b)).toEqual([...labels.keys()])
    expect(train).toEqual([...train].sort((a, b) => a - b))
  })

  test('keeps class shares; every class of ≥ 2 gets a validation example; singletons train', () => {
    const { train, val } = stratifiedSplit(labels, 0.2, 7)
    const count = (idx: number[], c: number) => idx.filter((i) => labels[i] === c).length
    expect(count(val, 0)).toBe(2)
    expect(count(val, 1)).toBe(1)
    expect(count(val, 2)).toBe(1)
    expect(count(train, 2)).toBe(1)
    expect(count(val, 3)).toBe(0)
    expect(count(train, 3)).toBe(1)
  })

  test('never leaves a class without training examples, even at a large fraction', () => {
    const { train } = stratifiedSplit(labels, 0.95, 1)
    for (const c of [0, 1, 2, 3]) expect(train.some((i) => labels[i] === c)).toBe(true)
  })

  test('is deterministic per seed and varies across seeds', () => {
    expect(stratifiedSplit(labels, 0.3, 42)).toEqual(stratifiedSplit(labels, 0.3, 42))
    const seen = new Set([1, 2, 3, 4, 5].map((s) => JSON.stringify(stratifiedSplit(labels, 0.3, s).val)))
    expect(seen.size).toBeGreaterThan(1)
  })

  test('fraction 0 keeps everything for training; bad fractions are refused', () => {
    expect(stratifiedSplit(labels, 0, 1).val).toEqual([])
    expect(() => stratifiedSplit(labels, 1, 1)).toThrow(RangeError)
    expect(() => stratifiedSplit(labels, -0.1, 1)).toThrow(RangeError)
  })
})
