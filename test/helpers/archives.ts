import { buffer } from 'node:stream/consumers'
import { createGzip } from 'node:zlib'
import tar from 'tar-stream'
import yazl from 'yazl'
import { CLASS_PATTERNS, makeImage, type ClassPattern, type MakeImageOptions } from './images.js'

export interface ArchiveFile {
  /** Path inside the archive; `/`-separated. Unsafe paths (`../x`, `/abs`) are written as given. */
  path: string
  data: Buffer | string
}

/**
 * A zip of `files`. yazl refuses unsafe names, so those are written under a same-length placeholder and patched
 * into the bytes afterwards: the archive then holds exactly what a hostile client could send.
 */
export async function makeZip(files: readonly ArchiveFile[]): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  const patches: [placeholder: Buffer, name: Buffer][] = []
  for (const [i, file] of files.entries()) {
    const data = typeof file.data === 'string' ? Buffer.from(file.data) : file.data
    let name = file.path
    if (isUnsafe(file.path)) {
      const bytes = Buffer.from(file.path)
      const placeholder = `~${i}~`.padEnd(bytes.length, '_')
      if (Buffer.byteLength(placeholder) !== bytes.length) throw new Error(`unsafe zip name too short to patch: ${file.path}`)
      patches.push([Buffer.from(placeholder), bytes])
      name = placeholder
    }
    zip.addBuffer(data, name)
  }
  zip.end()
  const archive = await buffer(zip.outputStream)
  for (const [placeholder, name] of patches) {
    // Local header and central directory each hold the name once.
    for (let at = archive.indexOf(placeholder); at !== -1; at = archive.indexOf(placeholder, at + 1)) name.copy(archive, at)
  }
  return archive
}

function isUnsafe(name: string): boolean {
  return /^([/\\]|[a-zA-Z]:)/.test(name) || name.split(/[/\\]/).includes('..') || name.includes('\\')
}

export interface MakeTarOptions {
  /** gzip the tar (`.tar.gz`). @defaultValue false */
  gzip?: boolean
}

/** A tar (or tar.gz) of `files`; names go in as given, unsafe ones included. */
export async function makeTar(files: readonly ArchiveFile[], opts: MakeTarOptions = {}): Promise<Buffer> {
  const pack = tar.pack()
  // Read while writing: the pack stream holds back entries nobody consumes.
  const out = buffer((opts.gzip ? pack.pipe(createGzip()) : pack) as AsyncIterable<Buffer>)
  for (const file of files) pack.entry({ name: file.path }, typeof file.data === 'string' ? Buffer.from(file.data) : file.data)
  pack.finalize()
  return out
}

export interface MakeImageFolderOptions extends Omit<MakeImageOptions, 'seed'> {
  /** Folder prefix of every file, e.g. `flowers/` or `train/`. @defaultValue '' */
  prefix?: string
  /** Pattern per class name; by default classes take {@link CLASS_PATTERNS} in order. */
  patterns?: Record<string, ClassPattern>
  /** Added to every seed, so two calls (say train/ and val/) give different images. @defaultValue 0 */
  seedOffset?: number
}

/** Keeps two classes that share a pattern from sharing images. */
const SEEDS_PER_CLASS = 100_000

/** Files of an ImageFolder: `counts[class]` distinct images per class, named `<prefix><class>/<nnn>.<ext>`. */
export async function makeImageFolder(
  counts: Record<string, number>,
  opts: MakeImageFolderOptions = {},
): Promise<ArchiveFile[]> {
  const { prefix = '', patterns = {}, seedOffset = 0, format = 'png', ...imageOpts } = opts
  const files: ArchiveFile[] = []
  for (const [c, [label, count]] of Object.entries(counts).entries()) {
    const pattern = patterns[label] ?? CLASS_PATTERNS[c % CLASS_PATTERNS.length] ?? 'red-circle'
    for (let i = 0; i < count; i += 1) {
      const data = await makeImage(pattern, { ...imageOpts, format, seed: seedOffset + c * SEEDS_PER_CLASS + i })
      const ext = format === 'jpeg' ? 'jpg' : format
      files.push({ path: `${prefix}${label}/${String(i).padStart(3, '0')}.${ext}`, data })
    }
  }
  return files
}
