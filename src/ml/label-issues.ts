/** An image whose given label the out-of-fold model finds unlikely. */
export interface LabelIssue {
  /** Example index. */
  index: number
  label: number
  suggested: number
  /** p(suggested) − p(label), out of fold, in (0, 1]; issues are ranked by it, largest first. */
  confidence: number
}

/** Label issues reported at most (the most likely ones). */
export const MAX_LABEL_ISSUES = 200

/**
 * Confident learning (Northcutt et al., 2021), the "confident joint" rule with a prune-by-margin ranking:
 * 1. Class k's threshold t_k is its mean self-confidence: the mean out-of-fold p(k) over the images labelled k.
 * 2. Image i labelled y is an issue when some other class k has p_i(k) ≥ t_k and p_i(k) > p_i(y); the suggested
 *    class is the one of those with the highest p_i(k).
 * 3. Issues are ranked by the margin p_i(suggested) − p_i(y), reported as `confidence`.
 * Per-class thresholds matter: a class the probe finds hard has a low t_k, so a moderate p(k) still counts, while
 * an easy class needs near-certain evidence.
 * @param probs out-of-fold probabilities per example (see `outOfFoldProbs`)
 * @param labels given class index per example
 */
export function findLabelIssues(probs: readonly Float32Array[], labels: readonly number[], max = MAX_LABEL_ISSUES): LabelIssue[] {
  const numClasses = probs[0]?.length ?? 0
  const sum = new Float64Array(numClasses)
  const count = new Float64Array(numClasses)
  labels.forEach((y, i) => {
    sum[y]! += probs[i]![y]!
    count[y]! += 1
  })
  // A class nobody is labelled with has no threshold: it cannot be suggested.
  const threshold = Array.from(sum, (s, k) => (count[k]! > 0 ? s / count[k]! : Infinity))

  const issues: LabelIssue[] = []
  labels.forEach((y, i) => {
    const p = probs[i]!
    let suggested = -1
    for (let k = 0; k < numClasses; k++) {
      if (k === y || p[k]! < threshold[k]! || p[k]! <= p[y]!) continue
      if (suggested < 0 || p[k]! > p[suggested]!) suggested = k
    }
    if (suggested >= 0) issues.push({ index: i, label: y, suggested, confidence: p[suggested]! - p[y]! })
  })
  return issues.sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, max)
}
