import * as tf from '@tensorflow/tfjs'
import { classGuidance, fitPowerLaw } from '../../src/ml/class-guidance.js'
import { assignFolds, outOfFoldProbs } from '../../src/ml/kfold-probe.js'
import { findLabelIssues } from '../../src/ml/label-issues.js'
import { findNearDuplicates } from '../../src/ml/near-duplicates.js'
import { seededRandom } from '../../src/ml/random.js'

const random = seededRandom(42)
const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())

/** `perClass` points around each class's own centre (a distance `spread` apart) in `d` dimensions. */
function blobs(classes: number, perClass: number, d: number, spread: number): { features: Float32Array[]; labels: number[] } {
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: d }, () => gaussian() * spread))
  const features: Float32Array[] = []
  const labels: number[] = []
  for (let k = 0; k < classes; k++) {
    for (let i = 0; i < perClass; i++) {
      features.push(Float32Array.from(centres[k]!, (c) => c + gaussian()))
      labels.push(k)
    }
  }
  return { features, labels }
}

beforeAll(async () => {
  await tf.setBackend('cpu')
})

describe('assignFolds', () => {
  it('deals each class evenly over the folds', () => {
    const labels = [...new Array(10).fill(0), ...new Array(7).fill(1)]
    const fold = assignFolds(labels, 5, 1)
    for (const k of [0, 1]) {
      const sizes = [0, 1, 2, 3, 4].map((f) => fold.filter((v, i) => v === f && labels[i] === k).length)
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
    }
    expect(assignFolds(labels, 5, 1)).toEqual(fold)
  })
})

describe('label issues from out-of-fold probes', () => {
  it('finds labels flipped on purpose, ranked above the rest, and leaves no tensor behind', () => {
    const { features, labels } = blobs(3, 40, 16, 1.5)
    const flipped = [3, 17, 45, 62, 88, 101]
    const given = labels.map((y, i) => (flipped.includes(i) ? (y + 1) % 3 : y))
    const before = tf.memory().numTensors
    const probs = outOfFoldProbs(features, given, 3, { seed: 7 })
    expect(tf.memory().numTensors).toBe(before)
    expect(probs).toHaveLength(features.length)
    probs.forEach((p) => expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4))

    const issues = findLabelIssues(probs, given)
    const found = issues.map((i) => i.index)
    // Every flipped label is found, and flagged as the class it truly belongs to.
    for (const i of flipped) {
      const issue = issues.find((x) => x.index === i)
      expect(issue).toMatchObject({ label: given[i], suggested: labels[i] })
    }
    // The flipped ones rank first; at most a few clean points sit near a boundary.
    expect(new Set(found.slice(0, flipped.length))).toEqual(new Set(flipped))
    expect(issues.length).toBeLessThanOrEqual(flipped.length + 3)
    for (let r = 1; r < issues.length; r++) expect(issues[r]!.confidence).toBeLessThanOrEqual(issues[r - 1]!.confidence)
  })

  it('applies per-class thresholds: mean self-confidence of the class', () => {
    // Class 1's images get p(1) = 0.6 on average, so 0.65 for class 1 on an image labelled 0 is enough…
    const probs = [
      [0.9, 0.1],
      [0.9, 0.1],
      [0.35, 0.65],
      [0.4, 0.6],
      [0.4, 0.6],
    ].map((p) => Float32Array.from(p))
    const issues = findLabelIssues(probs, [0, 0, 0, 1, 1])
    expect(issues).toEqual([{ index: 2, label: 0, suggested: 1, confidence: expect.closeTo(0.3, 5) }])
    // …but an image of class 1 with p(0) = 0.55 stays below class 0's threshold (about 0.72): no issue, although
    // the probe's top class is not its label.
    expect(findLabelIssues([...probs, Float32Array.from([0.55, 0.45])], [0, 0, 0, 1, 1, 1])).toEqual([
      { index: 2, label: 0, suggested: 1, confidence: expect.closeTo(0.3, 5) },
    ])
  })
})

describe('findNearDuplicates', () => {
  it('pairs slightly changed copies and nothing else, most similar first', () => {
    const { features } = blobs(4, 10, 32, 1)
    const copies = [
      Float32Array.from(features[5]!, (v) => v + 0.05 * gaussian()),
      Float32Array.from(features[23]!, (v) => v * 1.02 + 0.1 * gaussian()),
    ]
    const pairs = findNearDuplicates([...features, ...copies], undefined, { embeddingThreshold: 0.9 })
    expect(pairs.map(({ a, b }) => [a, b])).toEqual([
      [5, 40],
      [23, 41],
    ])
    expect(pairs[0]!.similarity).toBeGreaterThan(pairs[1]!.similarity)
    expect(pairs[1]!.similarity).toBeGreaterThan(0.9)
  })

  it('keeps the list bounded when everything is a copy', () => {
    const one = Float32Array.from({ length: 8 }, () => gaussian())
    const other = Float32Array.from({ length: 8 }, () => gaussian())
    const many = [...Array.from({ length: 300 }, () => one), other]
    expect(findNearDuplicates(many, undefined, { max: 20 })).toHaveLength(20)
  })
})

describe('classGuidance', () => {
  it('fits a power law exactly on exact points', () => {
    const fit = fitPowerLaw([10, 20, 40].map((x) => [x, 3 * x ** -0.5] as const))
    expect(fit?.a).toBeCloseTo(3, 6)
    expect(fit?.b).toBeCloseTo(0.5, 6)
  })

  it('names confused pairs, measures the curve, and projects gains with an interval', () => {
    const { features, labels } = blobs(3, 40, 16, 0.8)
    const curve = [0.25, 0.5, 0.75, 1].map((fraction) => ({
      fraction,
      probs: outOfFoldProbs(features, labels, 3, { seed: 3, subsample: fraction }),
    }))
    const guidance = classGuidance(curve, labels, ['a', 'b', 'c'], 5, 1)
    expect(guidance.learningCurve.map((p) => p.fraction)).toEqual([0.25, 0.5, 0.75, 1])
    expect(guidance.learningCurve[3]!.imagesPerClass).toBe(32)
    expect(guidance.confusedPairs.length).toBeGreaterThan(0)
    for (const c of guidance.classes) {
      expect(c.images).toBe(40)
      if (c.recallAtDouble) {
        expect(c.recallAtDouble.low).toBeLessThanOrEqual(c.recallAtDouble.high)
        expect(c.recallAtDouble.estimate).toBeGreaterThanOrEqual(0)
      }
    }
    expect(guidance.accuracyAtDouble).not.toBeNull()
    expect(guidance.accuracyAtDouble!.low).toBeLessThanOrEqual(guidance.accuracyAtDouble!.high)
  })
})
