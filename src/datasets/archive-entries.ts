import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { Transform, type Readable } from 'node:stream'
import { crc32, createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import yauzl from 'yauzl'
import { AppError } from '../errors.js'

export type ArchiveFormat = 'zip' | 'tar' | 'tar.gz'

/** One member of an archive, handed out in archive order; read it (or not) before asking for the next. */
export interface ArchiveEntry {
  /** The name as recorded, `/`-separated (zip backslashes converted); not yet checked for safety. */
  path: string
  kind: 'file' | 'directory' | 'link' | 'other'
  /** Declared uncompressed size, bytes. */
  size: number
  /** Set when the file cannot be read at all (encrypted, unsupported compression, too large): a human reason. */
  unreadable?: string
  /**
   * The whole body. Throws {@link EntryUnreadable} for a problem confined to this entry (zip CRC-32 mismatch), an
   * `AppError` (`ARCHIVE_INVALID`, `PAYLOAD_TOO_LARGE`) when the archive as a whole cannot go on.
   */
  read(): Promise<Buffer>
}

/** Streaming limits; each is checked while bytes flow, never after. Errors name the config setting behind each. */
export interface ArchiveLimits {
  /** Non-directory entries allowed; one more throws `PAYLOAD_TOO_LARGE`. */
  maxFiles: number
  /** Decompressed bytes allowed in total (zip: file bodies; tar: the whole tar stream); more throws `PAYLOAD_TOO_LARGE`. */
  maxInflatedBytes: number
  /** Largest single file, bytes; a larger one is `unreadable`, so at most this much is buffered at once. */
  maxFileBytes: number
}

/** A failure confined to one entry; the caller rejects that file and goes on. */
export class EntryUnreadable extends Error {
  override name = 'EntryUnreadable'
}

const HEADER_BYTES = 512
const S_IFMT = 0o170000
const S_IFLNK = 0o120000
const ZIP_MADE_BY_UNIX = 3

/** Other formats people upload, named so the error can say what was sent. */
const FOREIGN_MAGIC: [string, Buffer][] = [
  ['rar', Buffer.from('Rar!\x1a\x07', 'latin1')],
  ['7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
]

/** Tells zip, tar and gzip apart by their magic bytes (file names lie). Throws `ARCHIVE_INVALID` for anything else. */
export async function detectArchiveFormat(file: string): Promise<ArchiveFormat> {
  const head = Buffer.alloc(HEADER_BYTES)
  const handle = await open(file, 'r')
  let length: number
  try {
    length = (await handle.read(head, 0, HEADER_BYTES, 0)).bytesRead
  } finally {
    await handle.close()
  }
  const bytes = head.subarray(0, length)
  if (length === 0) throw new AppError('ARCHIVE_INVALID', 'the upload is empty; expected a zip, tar or tar.gz archive')
  // Local file header, or the end record of an empty zip.
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 0x03 || bytes[2] === 0x05)) return 'zip'
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'tar.gz'
  if (length === HEADER_BYTES && bytes.toString('latin1', 257, 262) === 'ustar') return 'tar'
  const foreign = FOREIGN_MAGIC.find(([, magic]) => bytes.subarray(0, magic.length).equals(magic))
  const what = foreign ? `a ${foreign[0]} archive` : 'not an archive'
  throw new AppError('ARCHIVE_INVALID', `the upload is ${what}; expected a zip, tar or tar.gz archive`)
}

/**
 * Streams the entries of the archive at `file`, one at a time, counting files and inflated bytes as they pass.
 * Throws `ARCHIVE_INVALID` for a corrupt archive and `PAYLOAD_TOO_LARGE` as soon as a limit is crossed.
 */
export async function* readArchiveEntries(
  file: string,
  format: ArchiveFormat,
  limits: ArchiveLimits,
): AsyncGenerator<ArchiveEntry, void, undefined> {
  const budget = new Budget(limits)
  try {
    if (format === 'zip') yield* zipEntries(file, limits, budget)
    else yield* tarEntries(file, format === 'tar.gz', limits, budget)
  } catch (err) {
    throw asArchiveError(err)
  }
}

/** The running totals behind {@link ArchiveLimits}. */
class Budget {
  private files = 0
  private inflated = 0
  constructor(private readonly limits: ArchiveLimits) {}

  countFile(): void {
    this.files += 1
    if (this.files > this.limits.maxFiles) {
      throw new AppError('PAYLOAD_TOO_LARGE', `the archive holds more than ${this.limits.maxFiles} files`, {
        limit: 'MAX_DATASET_IMAGES',
        max: this.limits.maxFiles,
      })
    }
  }

  countBytes(n: number): void {
    this.inflated += n
    if (this.inflated > this.limits.maxInflatedBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', `the archive inflates to more than ${this.limits.maxInflatedBytes} bytes`, {
        limit: 'MAX_DATASET_INFLATED_BYTES',
        max: this.limits.maxInflatedBytes,
      })
    }
  }
}

function tooLarge(size: number, limits: ArchiveLimits): string | undefined {
  return size > limits.maxFileBytes ? `file too large (${size} bytes; limit ${limits.maxFileBytes})` : undefined
}

async function* zipEntries(file: string, limits: ArchiveLimits, budget: Budget): AsyncGenerator<ArchiveEntry> {
  // decodeStrings: false, because yauzl fails the whole archive on one `../` name; we reject that entry alone.
  const zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true })
  try {
    for await (const entry of zip.eachEntry()) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false)
      if (name.endsWith('/')) {
        yield { path: name, kind: 'directory', size: 0, read: () => Promise.resolve(Buffer.alloc(0)) }
        continue
      }
      budget.countFile()
      const unixMode = entry.versionMadeBy >> 8 === ZIP_MADE_BY_UNIX ? entry.externalFileAttributes >>> 16 : 0
      const kind = (unixMode & S_IFMT) === S_IFLNK ? 'link' : 'file'
      const unreadable = entry.isEncrypted()
        ? 'encrypted file'
        : !entry.canDecodeFileData()
          ? `unsupported zip compression method ${entry.compressionMethod}`
          : tooLarge(entry.uncompressedSize, limits)
      yield {
        path: name,
        kind,
        size: entry.uncompressedSize,
        ...(unreadable ? { unreadable } : {}),
        read: async () => {
          let stream: Readable
          try {
            stream = await zip.openReadStreamPromise(entry)
          } catch (err) {
            throw new EntryUnreadable(`corrupt archive entry (${messageOf(err)})`)
          }
          const data = await collect(stream, limits, budget, (err) => new EntryUnreadable(`corrupt archive entry (${messageOf(err)})`))
          // yauzl leaves the CRC to us; without it a flipped bit reaches the image decoder as a different file.
          if (crc32(data) !== entry.crc32) throw new EntryUnreadable('corrupt archive entry (CRC-32 mismatch)')
          return data
        },
      }
    }
  } finally {
    zip.close()
  }
}

async function* tarEntries(file: string, gzip: boolean, limits: ArchiveLimits, budget: Budget): AsyncGenerator<ArchiveEntry> {
  const source = createReadStream(file)
  const extract = tar.extract()
  // Counted before the tar parser, so headers and skipped bodies count too: a gzip bomb stops here.
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        budget.countBytes(chunk.length)
        done(null, chunk)
      } catch (err) {
        done(err as Error)
      }
    },
  })
  const stages: NodeJS.ReadWriteStream[] = gzip ? [createGunzip(), counter] : [counter]
  const fail = (err: Error) => extract.destroy(err)
  source.on('error', fail)
  let upstream: NodeJS.ReadableStream = source
  for (const stage of stages) {
    stage.on('error', fail)
    upstream = upstream.pipe(stage)
  }
  upstream.pipe(extract)

  try {
    for await (const stream of extract) {
      const header = stream.header
      const size = header.size ?? 0
      const type = header.type ?? 'file'
      const kind =
        type === 'file' || type === 'contiguous-file'
          ? 'file'
          : type === 'directory'
            ? 'directory'
            : type === 'link' || type === 'symlink'
              ? 'link'
              : 'other'
      if (kind !== 'directory') budget.countFile()
      const unreadable = kind === 'file' ? tooLarge(size, limits) : undefined
      let consumed = false
      yield {
        path: header.name,
        kind,
        size,
        ...(unreadable ? { unreadable } : {}),
        read: () => {
          consumed = true
          return collect(stream, limits, undefined, (err) => asArchiveError(err))
        },
      }
      // The next header only comes once this body has gone by.
      if (!consumed) for await (const _ of stream);
    }
  } finally {
    source.destroy()
    extract.destroy()
  }
}

/** Buffers one entry, refusing more than `maxFileBytes`; `budget` counts inflated bytes where the stream itself doesn't. */
async function collect(
  stream: AsyncIterable<unknown> & { destroy(): void },
  limits: ArchiveLimits,
  budget: Budget | undefined,
  onError: (err: unknown) => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  try {
    for await (const value of stream) {
      const chunk = value as Buffer
      budget?.countBytes(chunk.length)
      total += chunk.length
      if (total > limits.maxFileBytes) throw new EntryUnreadable(tooLarge(total, limits))
      chunks.push(chunk)
    }
  } catch (err) {
    stream.destroy()
    if (err instanceof AppError || err instanceof EntryUnreadable) throw err
    throw onError(err)
  }
  return Buffer.concat(chunks, total)
}

function asArchiveError(err: unknown): Error {
  if (err instanceof AppError || err instanceof EntryUnreadable) return err
  return new AppError('ARCHIVE_INVALID', `the archive is corrupt or truncated (${messageOf(err)})`)
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
