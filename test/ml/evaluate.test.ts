import { argmax, evaluate } from '../../src/ml/evaluate.js'

/** A probability row that predicts `k` of `c` classes, with the others ranked by index. */
function row(k: number, c = 3): number[] {
  return Array.from({ length: c }, (_, j) => (j === k ? 0.9 : 0.1 / (j + 2)))
}

describe('evaluate', () => {
  test('matches a hand-computed confusion matrix', () => {
    // truth:     0 0 0 1 1 2
    // predicted: 0 0 1 1 2 2
    const m = evaluate([0, 0, 0, 1, 1, 2], [row(0), row(0), row(1), row(1), row(2), row(2)], ['a', 'b', 'c'])
    expect(m.confusionMatrix).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ])
    expect(m.count).toBe(6)
    expect(m.accuracy).toBeCloseTo(4 / 6)
    const [a, b, c] = m.perClass
    expect(a).toMatchObject({ label: 'a', precision: 1, support: 3, predicted: 2 })
    expect(a!.recall).toBeCloseTo(2 / 3)
    expect(a!.f1).toBeCloseTo(0.8)
    expect(b).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 })
    expect(c).toMatchObject({ precision: 0.5, recall: 1, support: 1 })
    expect(c!.f1).toBeCloseTo(2 / 3)
    expect(m.macro!.precision).toBeCloseTo((1 + 0.5 + 0.5) / 3)
    expect(m.macro!.f1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3)
    expect(m.weighted!.recall).toBeCloseTo((3 * (2 / 3) + 2 * 0.5 + 1) / 6)
    expect(m.classesWithoutSupport).toEqual([])
  })

  test('a class with no support and one never predicted: no NaN, reported', () => {
    // Class 'c' has no examples; class 'b' is never predicted.
    const m = evaluate([0, 1, 1], [row(0), row(0), row(2)], ['a', 'b', 'c'])
    expect(m.confusionMatrix).toEqual([
      [1, 0, 0],
      [1, 0, 1],
      [0, 0, 0],
    ])
    const [a, b, c] = m.perClass
    expect(a).toMatchObject({ precision: 0.5, recall: 1, support: 1 })
    expect(b).toMatchObject({ precision: null, recall: 0, f1: 0, support: 2, predicted: 0 })
    expect(c).toMatchObject({ precision: 0, recall: null, f1: 0, support: 0, predicted: 1 })
    expect(m.classesWithoutSupport).toEqual(['c'])
    // Averages run over the supported classes a and b only.
    expect(m.macro!.precision).toBeCloseTo(0.25)
    expect(m.macro!.recall).toBeCloseTo(0.5)
    expect(JSON.stringify(m)).not.toMatch(/NaN|Infinity/)
  })

  test('top-k accuracy counts the true class among the k best', () => {
    const probs = [
      [0.5, 0.3, 0.1, 0.1], // truth 1: 2nd
      [0.1, 0.2, 0.3, 0.4], // truth 0: 4th
      [0.1, 0.2, 0.6, 0.1], // truth 2: 1st
    ]
    const m = evaluate([1, 0, 2], probs, ['a', 'b', 'c', 'd'], [2, 3, 4])
    expect(m.accuracy).toBeCloseTo(1 / 3)
    expect(m.topK).toEqual([
      { k: 2, accuracy: 2 / 3 },
      { k: 3, accuracy: 2 / 3 },
    ]) // k = 4 = number of classes is always 1 and left out
  })

  test('an empty set gives nulls, not NaN', () => {
    const m = evaluate([], [], ['a', 'b'])
    expect(m.accuracy).toBeNull()
    expect(m.macro).toBeNull()
    expect(m.weighted).toBeNull()
    expect(m.classesWithoutSupport).toEqual(['a', 'b'])
  })

  test('rejects mismatched input', () => {
    expect(() => evaluate([0], [], ['a', 'b'])).toThrow(RangeError)
    expect(() => evaluate([2], [[0.5, 0.5]], ['a', 'b'])).toThrow(RangeError)
  })

  test('argmax takes the first of ties', () => {
    expect(argmax([0.2, 0.4, 0.4])).toBe(1)
  })
})
