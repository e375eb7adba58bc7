/**
 * The ImageFolder convention, as pure functions: which archive paths are images of which class.
 *
 * `<class>/<image>`, optionally wrapped in one top folder (`flowers/roses/a.jpg`), optionally split into
 * `train/<class>/…` and `val/<class>/…` (`validation/`, `valid/`, or `test/` when there is no other).
 */

export type Split = 'train' | 'val'

export const HIDDEN_OR_SYSTEM = 'hidden or system file'

/** File names that operating systems leave behind in folders. */
const SYSTEM_FILES = new Set(['thumbs.db', 'ehthumbs.db', 'desktop.ini'])
const SYSTEM_FOLDERS = new Set(['__macosx'])
const TRAIN_FOLDER = 'train'
/** Folder names taken as the validation half of a split, in order of preference. */
const VAL_FOLDERS = ['val', 'validation', 'valid', 'test']
/** Most file systems cap a name at 255 bytes. */
const MAX_NAME_BYTES = 255

export type EntryPathCheck = { ok: true; segments: string[] } | { ok: false; reason: string }

/**
 * Normalises an archive path into segments (NFC, no empty or `.` segments) and refuses, with a reason, paths that
 * could never be part of a dataset: absolute, escaping with `..`, or hidden/system files.
 */
export function checkEntryPath(name: string): EntryPathCheck {
  if (name.includes('\0')) return { ok: false, reason: 'invalid file name (NUL byte)' }
  if (/^([/\\]|[a-zA-Z]:)/.test(name)) return { ok: false, reason: 'absolute path' }
  if (name.split(/[/\\]/).includes('..')) return { ok: false, reason: "path escapes the archive ('..')" }
  const segments = name
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .map((s) => s.normalize('NFC'))
  const base = segments.at(-1)
  if (base === undefined) return { ok: false, reason: 'invalid file name' }
  const hidden =
    segments.some((s) => s.startsWith('.') || SYSTEM_FOLDERS.has(s.toLowerCase())) || SYSTEM_FILES.has(base.toLowerCase())
  if (hidden) return { ok: false, reason: HIDDEN_OR_SYSTEM }
  return { ok: true, segments }
}

/** Why `name` cannot be a class folder, or undefined when it can (unicode, spaces and dots are fine). */
export function classNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return `invalid class name '${name}'`
  if (/[/\\\0]/.test(name)) return `invalid class name '${name}' (contains a path separator or NUL)`
  if (/\p{Cc}/u.test(name)) return `invalid class name '${name}' (contains control characters)`
  if (name.startsWith('.')) return `invalid class name '${name}' (hidden folder)`
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `invalid class name '${name.slice(0, 40)}…' (longer than ${MAX_NAME_BYTES} bytes)`
  return undefined
}

export interface Placement {
  label: string
  split?: Split
}

export interface FolderPlan {
  /** One per input path, same order: where the image goes, or why it has no place. */
  placements: (Placement | { reason: string })[]
  hasSplit: boolean
  /** Top folders stripped because they wrapped everything. */
  stripped: string[]
}

/**
 * Assigns each image path (segments from {@link checkEntryPath}) a class and split. Takes the paths of valid images
 * only, so a stray README beside the wrapper folder does not hide the wrapper.
 */
export function planImageFolder(paths: readonly (readonly string[])[]): FolderPlan {
  let depth = 0
  const stripped: string[] = []
  // Strip a folder that wraps every image, as long as something is still inside a folder below it.
  for (;;) {
    const first = paths[0]?.[depth]
    const wraps =
      first !== undefined &&
      paths.every((p) => p.length > depth + 1 && p[depth] === first) &&
      paths.some((p) => p.length > depth + 2)
    if (!wraps) break
    stripped.push(first)
    depth += 1
  }

  // Top folders that hold folders of images: a class named `test` holding images is not a split.
  const tops = new Set<string>()
  for (const p of paths) {
    const top = p[depth]
    if (top !== undefined && p.length > depth + 2) tops.add(top.toLowerCase())
  }
  const valFolder = VAL_FOLDERS.find((name) => tops.has(name))
  const hasSplit = tops.has(TRAIN_FOLDER) && valFolder !== undefined

  const placements = paths.map((full): Placement | { reason: string } => {
    let rest = full.slice(depth)
    let split: Split | undefined
    if (hasSplit) {
      const top = rest[0]?.toLowerCase()
      if (rest.length < 2 || (top !== TRAIN_FOLDER && top !== valFolder)) {
        return { reason: `outside the ${TRAIN_FOLDER}/ and ${valFolder}/ folders` }
      }
      split = top === TRAIN_FOLDER ? 'train' : 'val'
      rest = rest.slice(1)
    }
    if (rest.length < 2) return { reason: 'not inside a class folder' }
    if (rest.length > 2) return { reason: 'nested folder (expected <class>/<image>)' }
    const label = rest[0] as string
    const problem = classNameProblem(label)
    if (problem) return { reason: problem }
    return split ? { label, split } : { label }
  })
  return { placements, hasSplit, stripped }
}
