import { IMBALANCE_RATIO, MIN_IMAGES_PER_CLASS } from '../datasets/dataset-warnings.js'

/** Duplicates listed one by one per kind before the rest are summed up. */
const MAX_LISTED = 10

export interface WarningExample {
  label: number
  /** Content hash of the image bytes. */
  key: string
  /** Where the image is in the dataset, for the user. */
  path?: string | undefined
}

/**
 * What a user should know before trusting a run's numbers: tiny classes, heavy imbalance in the training split,
 * classes the validation split does not measure, and identical images (same hash) in two classes or on both sides
 * of the split (which inflates validation accuracy).
 * @param train indices into `examples` used for training; `val` those held out
 */
export function trainingWarnings(labels: string[], examples: WarningExample[], train: number[], val: number[]): string[] {
  const warnings: string[] = []
  const counts = (idx: number[]) => {
    const c = new Array<number>(labels.length).fill(0)
    for (const i of idx) c[examples[i]!.label]!++
    return c
  }
  const all = counts([...train, ...val])
  all.forEach((n, k) => {
    if (n < MIN_IMAGES_PER_CLASS) warnings.push(`class '${labels[k]}' has only ${n} image${n === 1 ? '' : 's'}; at least ${MIN_IMAGES_PER_CLASS} recommended`)
  })
  const trainCounts = counts(train)
  const present = trainCounts.map((n, k) => ({ n, k })).filter((c) => c.n > 0)
  // The first class by index among equals, so the message does not depend on sort stability.
  const smallest = present.reduce<(typeof present)[number] | undefined>((m, c) => (!m || c.n < m.n ? c : m), undefined)
  const largest = present.reduce<(typeof present)[number] | undefined>((m, c) => (!m || c.n > m.n ? c : m), undefined)
  if (smallest && largest && largest.n >= IMBALANCE_RATIO * smallest.n) {
    warnings.push(`training classes are imbalanced: '${labels[largest.k]}' has ${largest.n} images, '${labels[smallest.k]}' has ${smallest.n}`)
  }
  if (val.length > 0) {
    counts(val).forEach((n, k) => {
      if (n === 0) warnings.push(`class '${labels[k]}' has no validation images: its recall is not measured`)
    })
  }

  const where = (i: number) => examples[i]!.path ?? examples[i]!.key.slice(0, 12)
  const first = new Map<string, number>()
  const acrossClasses: string[] = []
  for (const i of [...train, ...val]) {
    const seen = first.get(examples[i]!.key)
    if (seen === undefined) first.set(examples[i]!.key, i)
    else if (examples[seen]!.label !== examples[i]!.label) {
      acrossClasses.push(`identical image in classes '${labels[examples[seen]!.label]}' and '${labels[examples[i]!.label]}': ${where(seen)}, ${where(i)}`)
    }
  }
  const trainKeys = new Map(train.map((i) => [examples[i]!.key, i]))
  const acrossSplit = val
    .filter((i) => trainKeys.has(examples[i]!.key))
    .map((i) => `identical image in training and validation: ${where(trainKeys.get(examples[i]!.key)!)}, ${where(i)}`)
  for (const [list, what] of [
    [acrossClasses, 'identical images in different classes'],
    [acrossSplit, 'identical images in training and validation'],
  ] as const) {
    warnings.push(...list.slice(0, MAX_LISTED))
    if (list.length > MAX_LISTED) warnings.push(`${list.length - MAX_LISTED} more ${what}`)
  }
  return warnings
}
