import { randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { pathToFileURL } from 'node:url'
import { writeFileAtomic } from '../atomic-write.js'
import type { BlobStore, PublishSource } from './blob-store.js'
import { safeJoin } from './layout.js'
import { asStorageError } from './storage-error.js'

const isNotFound = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
/** Staging, trash and probe entries start with a dot: never keys. */
const visible = (name: string) => !name.startsWith('.')

/**
 * The store as files under `root` (DATA_DIR by default, laid out exactly as before the store existed). Objects
 * are written to a temp file and renamed; publications are staged in a sibling folder and renamed in one step.
 */
export function localBlobStore(root: string): BlobStore {
  const file = (key: string) => safeJoin(root, ...key.split('/').filter(Boolean))
  /** Every failure goes through asStorageError, so a full or unwritable disk is STORAGE_UNAVAILABLE. */
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (err) {
      throw asStorageError(err)
    }
  }

  async function walk(dir: string, prefix: string, out: string[]): Promise<void> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isNotFound(err)) return
      throw err
    }
    for (const entry of entries) {
      if (!visible(entry.name)) continue
      const key = `${prefix}/${entry.name}`
      if (entry.isDirectory()) await walk(path.join(dir, entry.name), key, out)
      else if (entry.isFile()) out.push(key)
    }
  }

  async function bytesUnder(dir: string): Promise<number> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isNotFound(err)) return 0
      throw err
    }
    let total = 0
    for (const entry of entries) {
      if (!visible(entry.name)) continue
      const at = path.join(dir, entry.name)
      if (entry.isDirectory()) total += await bytesUnder(at)
      else if (entry.isFile()) total += (await stat(at).catch(() => ({ size: 0 }))).size
    }
    return total
  }

  async function fill(staging: string, source: PublishSource): Promise<void> {
    if ('dir' in source) return
    for (const [name, bytes] of Object.entries(source.files)) {
      const target = safeJoin(staging, ...name.split('/'))
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, bytes)
    }
  }

  return {
    location: pathToFileURL(path.resolve(root)).href,
    remote: false,
    put: (key, body) =>
      guard(async () => {
        if (typeof body === 'string' || body instanceof Uint8Array) return writeFileAtomic(file(key), body)
        const target = file(key)
        await mkdir(path.dirname(target), { recursive: true })
        const tmp = `${target}.${randomUUID()}.tmp`
        try {
          await pipeline(body as Readable, createWriteStream(tmp))
          await rename(tmp, target)
        } catch (err) {
          await rm(tmp, { force: true })
          throw err
        }
      }),
    get: (key) =>
      guard(async () => {
        try {
          return await readFile(file(key))
        } catch (err) {
          if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined
          throw err
        }
      }),
    stream: (key) =>
      guard(async () => {
        const target = file(key)
        const info = await stat(target).catch((err: unknown) => {
          if (isNotFound(err)) return undefined
          throw err
        })
        if (!info?.isFile()) return undefined
        // Written once (temp + rename), so size and mtime change exactly when the bytes could have.
        const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`
        return { body: createReadStream(target), size: info.size, etag }
      }),
    list: (prefix) =>
      guard(async () => {
        const out: string[] = []
        await walk(file(prefix), prefix, out)
        return out.sort()
      }),
    children: (prefix) =>
      guard(async () => {
        try {
          return (await readdir(file(prefix))).filter(visible).sort()
        } catch (err) {
          if (isNotFound(err)) return []
          throw err
        }
      }),
    size: (prefix) => guard(() => bytesUnder(file(prefix))),
    delete: (key) => guard(() => rm(file(key), { force: true })),
    deletePrefix: (prefix) =>
      guard(async () => {
        const target = file(prefix)
        // Renamed away first, so readers never see a folder with half its files.
        const doomed = path.join(path.dirname(target), `.removing-${path.basename(target)}-${randomUUID()}`)
        try {
          await rename(target, doomed)
        } catch (err) {
          if (isNotFound(err)) return false
          throw err
        }
        await rm(doomed, { recursive: true, force: true })
        return true
      }),
    publish: (prefix, source, marker) =>
      guard(async () => {
        if ('files' in source && !Object.hasOwn(source.files, marker)) throw new Error(`publication of ${prefix} lacks its marker ${marker}`)
        const target = file(prefix)
        const parent = path.dirname(target)
        await mkdir(parent, { recursive: true })
        const staging = 'dir' in source ? source.dir : path.join(parent, `.staging-${path.basename(target)}-${randomUUID()}`)
        try {
          await mkdir(staging, { recursive: true })
          await fill(staging, source)
          try {
            await rename(staging, target)
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
            // Another file system: copy beside the target, then the one rename that publishes it.
            const copy = path.join(parent, `.staging-${path.basename(target)}-${randomUUID()}`)
            try {
              await cp(staging, copy, { recursive: true })
              await rename(copy, target)
            } finally {
              await rm(copy, { recursive: true, force: true })
            }
          }
        } finally {
          await rm(staging, { recursive: true, force: true })
        }
      }),
    probe: () =>
      guard(async () => {
        // A real write: permission bits say nothing to root, and a full or read-only disk only shows on write.
        await mkdir(root, { recursive: true })
        const probe = path.join(root, `.ready-${randomUUID()}`)
        await writeFile(probe, 'ok')
        await rm(probe, { force: true })
      }),
    close: () => {},
  }
}
