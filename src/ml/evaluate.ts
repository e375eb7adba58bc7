import type { AverageMetrics, ClassMetrics, Metrics } from '../contract/metrics.js'

/** Index of the largest value (first on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i
  return best
}

/**
 * Scores predictions against the truth.
 * @param trueLabels class index per example
 * @param probabilities one row of class scores per example (`labels.length` wide)
 * @param labels class names, by index
 * @param topKs the k of each top-k accuracy wanted @defaultValue [3, 5]
 */
export function evaluate(
  trueLabels: number[],
  probabilities: ArrayLike<number>[],
  labels: string[],
  topKs: number[] = [3, 5],
): Metrics {
  const c = labels.length
  if (probabilities.length !== trueLabels.length) throw new RangeError(`${trueLabels.length} labels but ${probabilities.length} predictions`)
  const confusion = Array.from({ length: c }, () => new Array<number>(c).fill(0))
  const ks = topKs.filter((k) => Number.isInteger(k) && k >= 1 && k < c)
  const topHits = new Array<number>(ks.length).fill(0)
  let correct = 0
  trueLabels.forEach((truth, i) => {
    const row = probabilities[i]!
    if (!(truth >= 0 && truth < c) || row.length !== c) throw new RangeError(`example ${i}: label ${truth} or ${row.length} scores do not fit ${c} classes`)
    const predicted = argmax(row)
    confusion[truth]![predicted]!++
    if (predicted === truth) correct++
    // Rank of the true class = how many classes score strictly higher.
    let higher = 0
    for (let j = 0; j < c; j++) if (row[j]! > row[truth]!) higher++
    ks.forEach((k, n) => {
      if (higher < k) topHits[n]!++
    })
  })
  const count = trueLabels.length
  const ratio = (a: number, b: number) => (b === 0 ? null : a / b)

  const perClass: ClassMetrics[] = labels.map((label, k) => {
    const support = confusion[k]!.reduce((a, b) => a + b, 0)
    const predicted = confusion.reduce((a, row) => a + row[k]!, 0)
    const tp = confusion[k]![k]!
    const precision = ratio(tp, predicted)
    const recall = ratio(tp, support)
    let f1: number | null = null
    if (precision !== null || recall !== null) {
      const p = precision ?? 0
      const r = recall ?? 0
      f1 = p + r === 0 ? 0 : (2 * p * r) / (p + r)
    }
    return { label, precision, recall, f1, support, predicted }
  })
  const supported = perClass.filter((m) => m.support > 0)
  const average = (weight: (m: ClassMetrics) => number): AverageMetrics | null => {
    const total = supported.reduce((a, m) => a + weight(m), 0)
    if (total === 0) return null
    const mean = (f: (m: ClassMetrics) => number) => supported.reduce((a, m) => a + weight(m) * f(m), 0) / total
    return { precision: mean((m) => m.precision ?? 0), recall: mean((m) => m.recall ?? 0), f1: mean((m) => m.f1 ?? 0) }
  }
  return {
    count,
    accuracy: ratio(correct, count),
    topK: ks.map((k, n) => ({ k, accuracy: ratio(topHits[n]!, count) })),
    labels: [...labels],
    perClass,
    macro: average(() => 1),
    weighted: average((m) => m.support),
    confusionMatrix: confusion,
    confusionByLabel: Object.fromEntries(labels.map((t, i) => [t, Object.fromEntries(labels.map((p, j) => [p, confusion[i]![j]!]))])),
    classesWithoutSupport: perClass.filter((m) => m.support === 0).map((m) => m.label),
  }
}

/** One wrong prediction: `index` into the evaluated examples, class names, and the predicted class's score. */
export interface Misclassification {
  index: number
  true: string
  predicted: string
  /** Probability given to the wrong class, in [0, 1]. */
  score: number
}

/**
 * The wrong predictions, most confident first (the ones a user should look at), at most `limit`.
 * @param probabilities one row of class scores per example
 */
export function misclassifications(trueLabels: number[], probabilities: ArrayLike<number>[], labels: string[], limit: number): Misclassification[] {
  const wrong: Misclassification[] = []
  trueLabels.forEach((truth, index) => {
    const row = probabilities[index]!
    const predicted = argmax(row)
    if (predicted !== truth) wrong.push({ index, true: labels[truth]!, predicted: labels[predicted]!, score: row[predicted]! })
  })
  return wrong.sort((a, b) => b.score - a.score || a.index - b.index).slice(0, limit)
}
