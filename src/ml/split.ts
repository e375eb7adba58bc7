import { seededRandom, shuffleInPlace } from './random.js'

/**
 * Splits example indices into training and validation sets, class by class, so each class keeps its share.
 * Per class of n examples: round(n × fraction) go to validation, at least 1 when n ≥ 2 and fraction > 0, and at
 * most n − 1 so training keeps one. Same labels, fraction and seed → same split.
 * @param labels class index per example
 * @param fraction share for validation, in [0, 1)
 * @returns ascending example indices
 */
export function stratifiedSplit(labels: number[], fraction: number, seed: number): { train: number[]; val: number[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${fraction}`)
  const byClass = new Map<number, number[]>()
  labels.forEach((label, i) => {
    const list = byClass.get(label)
    if (list) list.push(i)
    else byClass.set(label, [i])
  })
  const random = seededRandom(seed)
  const train: number[] = []
  const val: number[] = []
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = shuffleInPlace(byClass.get(label)!, random)
    const n = members.length
    const nVal = fraction === 0 || n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)))
    val.push(...members.slice(0, nVal))
    train.push(...members.slice(nVal))
  }
  const asc = (a: number, b: number) => a - b
  return { train: train.sort(asc), val: val.sort(asc) }
}
