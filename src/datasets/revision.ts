import { AppError } from '../errors.js'
import { FileNameAllocator, sanitizeFileName } from './file-names.js'
import { classNameProblem } from './image-folder.js'

/** What `POST /datasets/:id/revisions` asks for; `path` is `images/<class>/<file>` as in the manifest. */
export interface RevisionChange {
  move?: readonly { path: string; to: string }[]
  drop?: readonly string[]
  /** New images, validated already, for class `to` (existing or new); `name` is the file name they were sent with. */
  add?: { to: string; images: readonly { name: string; sha256: string }[] }
}

/** The part of a manifest image a revision reads and carries over. */
export interface RevisableImage {
  path: string
  label: string
  sha256: string
  split?: 'train' | 'val'
  source: string
}

/**
 * One image of the revised dataset and where its bytes come from: the parent's `path` of the same bytes (`from`), or
 * the index of the added image in `change.add.images` (`added`).
 */
export type RevisedImage<I extends RevisableImage> =
  | { image: I; from: string; added?: undefined }
  | { image: RevisableImage; added: number; from?: undefined }

const IMAGES_DIR = 'images'

/**
 * The image list of a revision of `images`: dropped ones left out, moved ones relabelled under
 * `images/<to>/<file>` (renamed `-1`, `-2`… where the target folder holds the name already). Everything else keeps
 * its path, label, hash and split. Throws `REVISION_INVALID` with `details.problems` for an empty change, an unknown
 * or repeated path, a move to the image's own class or to a bad class name, a class left with no image, or more
 * classes than `maxClasses` (the limit uploads have).
 */
export function planRevision<I extends RevisableImage>(
  images: readonly I[],
  change: RevisionChange,
  opts: { maxClasses: number },
): RevisedImage<I>[] {
  const moves = change.move ?? []
  const drops = change.drop ?? []
  const adds = change.add?.images ?? []
  if (moves.length === 0 && drops.length === 0 && adds.length === 0) {
    invalid('the revision changes nothing: give "move", "drop" or "add" entries', [])
  }

  const byPath = new Map(images.map((image) => [image.path, image]))
  const problems: string[] = []
  const touched = new Set<string>()
  const touch = (p: string): I | undefined => {
    const image = byPath.get(p)
    if (!image) problems.push(`unknown path '${p}'`)
    else if (touched.has(p)) problems.push(`path '${p}' is named more than once`)
    else {
      touched.add(p)
      return image
    }
    return undefined
  }

  const classes = new Set(images.map((image) => image.label))
  // A class differing only in case would share a folder on macOS and Windows file systems.
  const classByFold = new Map([...classes].map((c) => [c.toLowerCase(), c]))
  const targets = new Map<string, string>()
  for (const { path: p, to } of moves) {
    const image = touch(p)
    const problem = classNameProblem(to)
    if (problem) problems.push(problem)
    else if ((classByFold.get(to.toLowerCase()) ?? to) !== to) {
      problems.push(`class '${to}' differs only in case from class '${classByFold.get(to.toLowerCase())}'`)
    } else if (image && image.label === to) problems.push(`'${p}' is already in class '${to}'`)
    else if (image) targets.set(p, to)
  }
  for (const p of drops) touch(p)
  const addTo = change.add && adds.length > 0 ? change.add.to : undefined
  if (addTo !== undefined) {
    const problem = classNameProblem(addTo)
    if (problem) problems.push(problem)
    else if ((classByFold.get(addTo.toLowerCase()) ?? addTo) !== addTo) {
      problems.push(`class '${addTo}' differs only in case from class '${classByFold.get(addTo.toLowerCase())}'`)
    }
  }
  if (problems.length > 0) invalid(`the revision is invalid: ${problems[0]}`, problems)

  const names = new FileNameAllocator()
  const kept = images.filter((image) => !touched.has(image.path))
  for (const image of kept) names.allocate(image.label, fileName(image.path))
  const revised: RevisedImage<I>[] = kept.map((image) => ({ image, from: image.path }))
  for (const image of images) {
    const to = targets.get(image.path)
    if (to === undefined) continue
    const name = names.allocate(to, fileName(image.path))
    revised.push({ image: { ...image, label: to, path: `${IMAGES_DIR}/${to}/${name}` }, from: image.path })
  }
  if (addTo !== undefined) {
    for (const [added, { name: sent, sha256 }] of adds.entries()) {
      const name = names.allocate(addTo, sanitizeFileName(sent.slice(sent.lastIndexOf('/') + 1)))
      revised.push({ image: { path: `${IMAGES_DIR}/${addTo}/${name}`, label: addTo, sha256, source: sent }, added })
    }
  }

  const counts = new Map<string, number>()
  for (const { image } of revised) counts.set(image.label, (counts.get(image.label) ?? 0) + 1)
  const emptied = [...classes].filter((c) => !counts.has(c)).sort()
  for (const c of emptied) problems.push(`class '${c}' would be left with no image`)
  if (counts.size < 2) problems.push(`a dataset needs at least 2 classes with images; the revision leaves ${counts.size}`)
  if (counts.size > opts.maxClasses) problems.push(`the revision makes ${counts.size} classes, more than ${opts.maxClasses}`)
  if (problems.length > 0) invalid(`the revision is invalid: ${problems[0]}`, problems)

  return revised.sort((a, b) => compare(a.image.label, b.image.label) || compare(a.image.path, b.image.path))
}

function invalid(message: string, problems: string[]): never {
  throw new AppError('REVISION_INVALID', message, { problems })
}

function fileName(imagePath: string): string {
  return imagePath.slice(imagePath.lastIndexOf('/') + 1)
}

/** Code-point order, as manifests are sorted. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
