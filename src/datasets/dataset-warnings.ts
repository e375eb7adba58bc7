/** Fewer images than this in a class trains poorly; said as a warning, not refused. */
export const MIN_IMAGES_PER_CLASS = 5
/** Largest class this many times the smallest reads as imbalanced. */
export const IMBALANCE_RATIO = 3
/** Identical-image warnings listed one by one before the rest are summed up. */
const MAX_IDENTICAL_LISTED = 10

export interface WarningInput {
  classes: readonly { name: string; count: number }[]
  /** `source`, the path inside the user's archive, is what warnings name: `images/…` is ours, not theirs. */
  images: readonly { label: string; path: string; sha256: string; split?: 'train' | 'val'; source?: string }[]
  hasSplit: boolean
}

/** Things a user should know about a dataset that is still usable. `classes` sorted by name. */
export function datasetWarnings({ classes, images, hasSplit }: WarningInput): string[] {
  const warnings: string[] = []
  for (const c of classes) {
    if (c.count < MIN_IMAGES_PER_CLASS) {
      warnings.push(`class '${c.name}' has only ${c.count} image${c.count === 1 ? '' : 's'}; at least ${MIN_IMAGES_PER_CLASS} recommended`)
    }
  }

  const bySize = [...classes].sort((a, b) => a.count - b.count)
  const smallest = bySize[0]
  const largest = bySize.at(-1)
  if (smallest && largest && largest.count >= IMBALANCE_RATIO * smallest.count) {
    warnings.push(
      `classes are imbalanced: '${largest.name}' has ${largest.count} images, '${smallest.name}' has ${smallest.count}`,
    )
  }

  if (hasSplit) {
    const present = new Set(images.map((i) => `${i.split}/${i.label}`))
    for (const c of classes) {
      const inSplit = (split: 'train' | 'val') => present.has(`${split}/${c.name}`)
      if (!inSplit('train')) warnings.push(`class '${c.name}' has no training images`)
      else if (!inSplit('val')) warnings.push(`class '${c.name}' has no validation images`)
    }
  }

  const firstByHash = new Map<string, WarningInput['images'][number]>()
  const named = (image: WarningInput['images'][number]) => image.source ?? image.path
  const identical: string[] = []
  // The same image in train/ and val/ flatters the validation figures: the model is scored on what it learned from.
  const leaked: string[] = []
  for (const image of images) {
    const first = firstByHash.get(image.sha256)
    if (!first) firstByHash.set(image.sha256, image)
    else if (first.label !== image.label) {
      identical.push(`identical image in classes ${first.label} and ${image.label}: ${named(first)}, ${named(image)}`)
    } else if (hasSplit && first.split !== image.split) {
      leaked.push(`identical image in train and val: ${named(first)}, ${named(image)}`)
    }
  }
  listCapped(warnings, identical, 'more identical images in different classes')
  listCapped(warnings, leaked, 'more identical images in both train and val')
  return warnings
}

/** Lists the first MAX_IDENTICAL_LISTED of `items`, then one line counting the rest. */
function listCapped(warnings: string[], items: string[], rest: string): void {
  warnings.push(...items.slice(0, MAX_IDENTICAL_LISTED))
  if (items.length > MAX_IDENTICAL_LISTED) warnings.push(`${items.length - MAX_IDENTICAL_LISTED} ${rest}`)
}
