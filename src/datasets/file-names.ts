/** Room left under the usual 255-byte name limit for a `-123` suffix. */
const MAX_NAME_BYTES = 200
const FALLBACK_NAME = 'image'

/**
 * A safe stored name for an archive member's base name: NFC, unicode letters, marks and digits plus `. - _` and
 * space kept, anything else (separators, control characters, symbols) becomes `_`, no leading dot or trailing
 * dots/spaces, at most {@link MAX_NAME_BYTES} UTF-8 bytes with the extension kept.
 */
export function sanitizeFileName(base: string): string {
  let name = base
    .normalize('NFC')
    .replace(/[^\p{L}\p{M}\p{N}._\- ]/gu, '_')
    .replace(/^[. ]+/, '')
    .replace(/[. ]+$/, '')
  if (name === '') name = FALLBACK_NAME
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name
  const { stem, ext } = splitExtension(name)
  const keptExt = Buffer.byteLength(ext) <= 16 ? ext : ''
  let cut = stem
  while (cut && Buffer.byteLength(cut + keptExt) > MAX_NAME_BYTES) cut = [...cut].slice(0, -1).join('')
  return (cut || FALLBACK_NAME) + keptExt
}

function splitExtension(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf('.')
  return dot > 0 ? { stem: name.slice(0, dot), ext: name.slice(dot) } : { stem: name, ext: '' }
}

/**
 * Hands out file names unique per folder, ignoring case (`a.jpg`, `A.jpg` → `a.jpg`, `A-1.jpg`), so a dataset
 * copied to a case-insensitive file system (macOS, Windows) loses nothing. Folders are compared ignoring case too.
 */
export class FileNameAllocator {
  private readonly taken = new Set<string>()

  allocate(folder: string, name: string): string {
    const { stem, ext } = splitExtension(name)
    let candidate = name
    for (let n = 1; this.taken.has(key(folder, candidate)); n += 1) candidate = `${stem}-${n}${ext}`
    this.taken.add(key(folder, candidate))
    return candidate
  }
}

function key(folder: string, name: string): string {
  return `${folder.toLowerCase()}/${name.toLowerCase()}`
}
