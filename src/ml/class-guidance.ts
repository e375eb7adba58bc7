import type { ClassGuidance } from '../contract/jobs.js'
import { seededRandom } from './random.js'

// The shapes are the contract's (the job result and model metadata carry them); the parts by name here.
type Estimate = NonNullable<ClassGuidance['accuracyAtDouble']>
type ConfusedPair = ClassGuidance['confusedPairs'][number]
type ClassAdvice = ClassGuidance['classes'][number]

/** Shares of the training folds the learning curve is measured at. */
export const CURVE_FRACTIONS = [0.25, 0.5, 0.75, 1] as const
export const MAX_CONFUSED_PAIRS = 10
const BOOTSTRAP_SAMPLES = 200
/** A power-law exponent below this needs > 1000× the images to halve the error: reported as flat. */
const MIN_SLOPE = 0.1

/**
 * Guidance from out-of-fold predictions at several training-set sizes (see `CURVE_FRACTIONS`):
 * - confused pairs: from the full-data predictions, counted both ways;
 * - learning curve: per class, the error rate e(n) at the images n its probes saw is fitted with a power law
 *   e = a·n^(−b) (least squares on log e vs log n, errors smoothed as (wrong + ½)/(images + 1) so zero is no
 *   problem). Twice the images gives e(2n); halving the error takes n·(2^(1/b) − 1) more images.
 * - uncertainty: the same fits on 200 seeded bootstrap resamples of the images (a resample keeps an image's
 *   outcome at every size together); `low`/`high` are their 10th/90th percentiles.
 * @param curve predictions at each fraction, ascending, the last at fraction 1 (`probs[i]` per example)
 * @param labels given class index per example
 * @param folds folds the probes used: with k folds they saw (k − 1)/k of the data
 */
export function classGuidance(
  curve: readonly { fraction: number; probs: readonly Float32Array[] }[],
  labels: readonly number[],
  classNames: readonly string[],
  folds: number,
  seed: number,
): ClassGuidance {
  const C = classNames.length
  const n = labels.length
  const counts = new Array<number>(C).fill(0)
  for (const y of labels) counts[y]!++
  const seen = (folds - 1) / folds
  // correct[f][i]: whether the probe at fraction f got example i right.
  const correct = curve.map(({ probs }) => labels.map((y, i) => argmax(probs[i]!) === y))
  const full = curve.at(-1)!

  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0))
  labels.forEach((y, i) => confusion[y]![argmax(full.probs[i]!)]!++)
  const confusedPairs: ConfusedPair[] = []
  for (let a = 0; a < C; a++) {
    for (let b = a + 1; b < C; b++) {
      const aAsB = confusion[a]![b]!
      const bAsA = confusion[b]![a]!
      if (aAsB + bAsA > 0) confusedPairs.push({ a: classNames[a]!, b: classNames[b]!, aAsB, bAsA, rate: round((aAsB + bAsA) / (counts[a]! + counts[b]!)) })
    }
  }
  confusedPairs.sort((x, y) => y.rate - x.rate || y.aAsB + y.bAsA - (x.aAsB + x.bAsA))

  const learningCurve = curve.map(({ fraction }, f) => ({
    fraction,
    imagesPerClass: round((n / C) * seen * fraction),
    accuracy: round(correct[f]!.filter(Boolean).length / n),
  }))

  /** Per class and overall projections on one sample of example indices. */
  const project = (sample: readonly number[]) => {
    const wrong = curve.map(() => new Array<number>(C).fill(0))
    const size = new Array<number>(C).fill(0)
    for (const i of sample) {
      size[labels[i]!]!++
      curve.forEach((_, f) => {
        if (!correct[f]![i]) wrong[f]![labels[i]!]!++
      })
    }
    const perClass = classNames.map((_, k) => {
      if (size[k] === 0) return undefined
      const fit = fitPowerLaw(curve.map(({ fraction }, f) => [counts[k]! * seen * fraction, (wrong[f]![k]! + 0.5) / (size[k]! + 1)]))
      if (!fit) return undefined
      const x1 = counts[k]! * seen
      const recallAtDouble = 1 - Math.min(1, fit.a * (2 * x1) ** -fit.b)
      const halve = fit.b < MIN_SLOPE || wrong.at(-1)![k] === 0 ? Infinity : counts[k]! * (2 ** (1 / fit.b) - 1)
      return { recallAtDouble, halve }
    })
    // Overall accuracy at double: each class's projected recall, weighted by its share of the images.
    const overall = perClass.every((p) => p !== undefined) ? perClass.reduce((s, p, k) => s + p!.recallAtDouble * counts[k]!, 0) / n : undefined
    return { perClass, overall }
  }

  const all = labels.map((_, i) => i)
  const point = project(all)
  const random = seededRandom(seed)
  const samples = Array.from({ length: BOOTSTRAP_SAMPLES }, () => project(all.map(() => Math.floor(random() * n))))
  const spread = (values: (number | undefined)[], estimate: number): Estimate | null => {
    const finite = values.filter((v): v is number => v !== undefined)
    if (finite.length === 0) return null
    return { estimate: round(estimate), low: round(percentile(finite, 0.1)), high: round(percentile(finite, 0.9)) }
  }

  const classes: ClassAdvice[] = classNames.map((label, k) => {
    const p = point.perClass[k]
    const recall = counts[k] === 0 ? 0 : correct.at(-1)!.filter((ok, i) => ok && labels[i] === k).length / counts[k]!
    const halves = samples.map((s) => s.perClass[k]?.halve).filter((v): v is number => v !== undefined)
    const images = (v: number) => (Number.isFinite(v) ? Math.ceil(v) : null)
    return {
      label,
      images: counts[k]!,
      recall: round(recall),
      recallAtDouble: p ? spread(samples.map((s) => s.perClass[k]?.recallAtDouble), p.recallAtDouble) : null,
      moreImagesToHalveError:
        p && halves.length > 0 ? { estimate: images(p.halve), low: images(percentile(halves, 0.1)), high: images(percentile(halves, 0.9)) } : null,
    }
  })

  return {
    confusedPairs: confusedPairs.slice(0, MAX_CONFUSED_PAIRS),
    learningCurve,
    accuracyAtDouble: point.overall === undefined ? null : spread(samples.map((s) => s.overall), point.overall),
    classes,
  }
}

/** Least-squares fit of y = a·x^(−b) through log y = log a − b·log x; undefined with fewer than 2 distinct x. */
export function fitPowerLaw(points: readonly (readonly [x: number, y: number])[]): { a: number; b: number } | undefined {
  const usable = points.filter(([x, y]) => x > 0 && y > 0).map(([x, y]) => [Math.log(x), Math.log(y)] as const)
  const m = usable.length
  if (m < 2) return undefined
  const mx = usable.reduce((s, [x]) => s + x, 0) / m
  const my = usable.reduce((s, [, y]) => s + y, 0) / m
  const sxx = usable.reduce((s, [x]) => s + (x - mx) ** 2, 0)
  if (sxx === 0) return undefined
  const slope = usable.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx
  return { a: Math.exp(my - slope * mx), b: -slope }
}

function argmax(p: Float32Array): number {
  let best = 0
  for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k
  return best
}

/** Linear interpolation between order statistics; Infinity sorts last. */
function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y)
  const at = q * (sorted.length - 1)
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  if (!Number.isFinite(sorted[hi]!) || lo === hi) return sorted[Number.isFinite(sorted[hi]!) ? hi : lo === hi ? hi : lo]!
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
