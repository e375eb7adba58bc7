import type { ClassGuidance, LabelIssueReport, NearDuplicateReport } from '../contract/jobs.js'
import { classGuidance, CURVE_FRACTIONS } from './class-guidance.js'
import { outOfFoldProbs, PROBE_FOLDS } from './kfold-probe.js'
import { findLabelIssues } from './label-issues.js'
import { findNearDuplicates, MAX_NEAR_DUPLICATE_IMAGES } from './near-duplicates.js'

/**
 * Images the probes take at most: their matrices are copies of the features (n × 1280 floats each, 100 MB at
 * 20,000), and a job's worker keeps to a memory budget. Larger sets get no label issues or guidance, with a warning.
 */
export const MAX_PROBE_IMAGES = 20_000

/** Each part is absent when the set is too large for it (see `warnings`). */
export interface DataInsights {
  labelIssues?: LabelIssueReport[]
  nearDuplicates?: NearDuplicateReport[]
  classGuidance?: ClassGuidance
  /** Parts skipped because the set is too large for them. */
  warnings: string[]
  /** Wall seconds per part. */
  timings: { labelIssues: number; nearDuplicates: number; classGuidance: number }
}

export interface DataInsightsInput {
  /** Base features of every image of the dataset (no augmented views), in example order. */
  features: readonly Float32Array[]
  /** `thumbnailDescriptor`s in example order, for the pixel test of the near-duplicate search. */
  thumbnails?: readonly Float32Array[] | undefined
  labels: readonly number[]
  classNames: readonly string[]
  /** Dataset path per example (`images/<class>/<file>`). */
  paths: readonly string[]
  /** Examples in the job's validation split. */
  validation: ReadonlySet<number>
  seed: number
  signal?: AbortSignal | undefined
}

/**
 * What a job learns about its data from cached features alone, independent of the head it trains: likely label
 * errors and class guidance from k-fold linear probes over every image (both splits: a wrong validation label
 * skews the metrics as much as a wrong training label misleads the head), and near-duplicates from the features'
 * cosine similarity and pixel thumbnails.
 */
export function dataInsights(input: DataInsightsInput): DataInsights {
  const { features, thumbnails, labels, classNames, paths, validation, seed, signal } = input
  let t = performance.now()
  const timings = { labelIssues: 0, nearDuplicates: 0, classGuidance: 0 }
  const lap = () => {
    const now = performance.now()
    const s = Math.round(now - t) / 1000
    t = now
    return s
  }
  const warnings: string[] = []
  let labelIssues: LabelIssueReport[] | undefined
  let guidance: ClassGuidance | undefined
  if (features.length > MAX_PROBE_IMAGES) {
    warnings.push(`label issues and class guidance skipped: ${features.length} images, more than ${MAX_PROBE_IMAGES}`)
  } else {
    const full = outOfFoldProbs(features, labels, classNames.length, { seed, signal })
    labelIssues = findLabelIssues(full, labels).map((issue) => ({
      path: paths[issue.index]!,
      label: classNames[issue.label]!,
      suggested: classNames[issue.suggested]!,
      confidence: Math.round(issue.confidence * 1000) / 1000,
    }))
    timings.labelIssues = lap()
    const curve = CURVE_FRACTIONS.map((fraction) => ({
      fraction,
      probs: fraction === 1 ? full : outOfFoldProbs(features, labels, classNames.length, { seed, signal, subsample: fraction }),
    }))
    guidance = classGuidance(curve, labels, classNames, PROBE_FOLDS, seed)
    timings.classGuidance = lap()
  }

  let nearDuplicates: NearDuplicateReport[] | undefined
  if (features.length > MAX_NEAR_DUPLICATE_IMAGES) {
    warnings.push(`near-duplicate search skipped: ${features.length} images, more than ${MAX_NEAR_DUPLICATE_IMAGES}`)
  } else {
    nearDuplicates = findNearDuplicates(features, thumbnails, { signal }).map(({ a, b, similarity }) => ({
      a: paths[a]!,
      b: paths[b]!,
      similarity: Math.round(similarity * 1000) / 1000,
      crossClass: labels[a] !== labels[b],
      crossSplit: validation.has(a) !== validation.has(b),
    }))
    timings.nearDuplicates = lap()
  }
  return { labelIssues, nearDuplicates, classGuidance: guidance, warnings, timings }
}
