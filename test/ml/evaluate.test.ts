import { argmax, evaluate, misclassifications } from '../../src/ml/evaluate.js'
import { trainingWarnings } from '../../src/ml/training-warnings.js'

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

  test('the confusion matrix by class name matches the hand-computed one', () => {
    // truth:     0 0 0 1 1 2
    // predicted: 0 0 1 1 2 2
    const m = evaluate([0, 0, 0, 1, 1, 2], [row(0), row(0), row(1), row(1), row(2), row(2)], ['a', 'b', 'c'])
    expect(m.confusionByLabel).toEqual({
      a: { a: 2, b: 1, c: 0 },
      b: { a: 0, b: 1, c: 1 },
      c: { a: 0, b: 0, c: 1 },
    })
  })
})

describe('misclassifications', () => {
  test('lists wrong predictions only, most confident first, up to the limit', () => {
    const probs = [
      [0.9, 0.1], // right
      [0.6, 0.4], // truth 1, predicted 0 at 0.6
      [0.2, 0.8], // truth 0, predicted 1 at 0.8
      [0.3, 0.7], // truth 0, predicted 1 at 0.7
    ]
    const wrong = misclassifications([0, 1, 0, 0], probs, ['cat', 'dog'], 2)
    expect(wrong).toEqual([
      { index: 2, true: 'cat', predicted: 'dog', score: 0.8 },
      { index: 3, true: 'cat', predicted: 'dog', score: 0.7 },
    ])
    expect(misclassifications([0], [[1, 0]], ['cat', 'dog'], 10)).toEqual([])
  })
})

describe('trainingWarnings', () => {
  const labels = ['a', 'b']
  const ex = (label: number, key: string) => ({ label, key: key.repeat(16), path: `images/${labels[label]}/${key}.png` })

  test('duplicates across classes and across the split, by hash', () => {
    const examples = [ex(0, 'a1'), ex(0, 'a2'), ex(1, 'a1'), ex(1, 'b1'), ex(1, 'b1')]
    const w = trainingWarnings(labels, examples, [0, 1, 3], [2, 4])
    expect(w).toContain("identical image in classes 'a' and 'b': images/a/a1.png, images/b/a1.png")
    expect(w).toContain('identical image in training and validation: images/b/b1.png, images/b/b1.png')
    expect(w).toContain("class 'a' has no validation images: its recall is not measured")
  })

  test('no validation images for a class, tiny classes, imbalance', () => {
    const examples = [...Array(12).keys()].map((i) => ex(0, `a${i}`)).concat([ex(1, 'b0'), ex(1, 'b1'), ex(1, 'b2')])
    const w = trainingWarnings(labels, examples, [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14], [9, 10, 11])
    expect(w).toEqual([
      "class 'b' has only 3 images; at least 5 recommended",
      "training classes are imbalanced: 'a' has 9 images, 'b' has 3",
      "class 'b' has no validation images: its recall is not measured",
    ])
    // Without a validation split nothing is said about validation.
    expect(trainingWarnings(labels, examples, [...examples.keys()], [])).not.toContainEqual(
      expect.stringContaining('validation'),
    )
  })
})
