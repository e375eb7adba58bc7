import { createHash, randomUUID } from 'node:crypto'
import { copyFile, link, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { detectArchiveFormat, EntryUnreadable, readArchiveEntries, type ArchiveEntry } from '../datasets/archive-entries.js'
import { datasetWarnings } from '../datasets/dataset-warnings.js'
import { FileNameAllocator, sanitizeFileName } from '../datasets/file-names.js'
import { checkEntryPath, planImageFolder } from '../datasets/image-folder.js'
import { planRevision, type RevisionChange } from '../datasets/revision.js'
import { validateImage } from '../datasets/validate-image.js'
import { AppError } from '../errors.js'
import { writeJsonAtomic } from '../atomic-write.js'
import { localFile, scopedStore, type BlobStore, type BlobStream } from './blob-store.js'
import { localBlobStore } from './local-blob-store.js'
import { isId, safeJoin, type DataLayout } from './layout.js'
import { asStorageError } from './storage-error.js'

export interface DatasetImage {
  /** Relative to the dataset folder, always `images/<class>/<file>`. */
  path: string
  label: string
  /** Hex sha256 of the stored bytes (the feature cache key). */
  sha256: string
  /** Only when the archive had train/ and val/ folders. */
  split?: 'train' | 'val'
  /** The entry's path inside the archive. */
  source: string
}

export interface DatasetClass {
  name: string
  count: number
}

/** A file of the archive that is not in the dataset: its path inside the archive and a human reason. */
export interface RejectedFile {
  path: string
  reason: string
}

export interface DatasetManifest {
  id: string
  name: string
  /** ISO 8601. */
  createdAt: string
  imageCount: number
  /** Sorted by name. */
  classes: DatasetClass[]
  rejected: RejectedFile[]
  warnings: string[]
  hasSplit: boolean
  /** The dataset this one is a revision of (`POST /datasets/:id/revisions`); absent on uploads. */
  parentId?: string
  /** Sorted by label, then path. */
  images: DatasetImage[]
}

/** Image files to add to one class in a revision: `name` is the file name sent, `file` where its bytes are now. */
export interface AddedFiles {
  to: string
  files: readonly { name: string; file: string }[]
  rejected: readonly RejectedFile[]
  maxImagePixels: number
}

export type DatasetSummary = Omit<DatasetManifest, 'images' | 'rejected'>

export interface IngestLimits {
  /** Files (non-directory entries, rejected ones included) allowed in the archive; more is `PAYLOAD_TOO_LARGE`. */
  maxImages: number
  /** Largest width × height of one image, pixels. */
  maxImagePixels: number
  /** Decompressed bytes allowed for the whole archive; more is `PAYLOAD_TOO_LARGE`. */
  maxInflatedBytes: number
  /** Class folders allowed; more is `PAYLOAD_TOO_LARGE`. */
  maxClasses: number
  /**
   * Largest single file, bytes; a larger one is rejected as "file too large". Bounds the memory of ingestion.
   * @defaultValue {@link DEFAULT_MAX_FILE_BYTES}
   */
  maxFileBytes?: number
}

export interface DatasetStore {
  /**
   * Reads the archive at archivePath (zip, tar or tar.gz), validates every file, stores valid images, returns the
   * manifest. Throws AppError; a disk that fails (full, read-only) is `STORAGE_UNAVAILABLE` and leaves nothing.
   */
  create(archivePath: string, opts: { name: string; limits: IngestLimits }): Promise<DatasetManifest>
  /** Undefined for unknown ids and for strings that are no id. */
  get(id: string): Promise<DatasetManifest | undefined>
  /** Newest first. */
  list(): Promise<DatasetSummary[]>
  remove(id: string): Promise<boolean>
  /**
   * A new dataset from `parentId` with images moved to other classes or dropped (see `planRevision`). Images are
   * carried over by content, not validated again (on disk hard links, copies across devices; on S3 each image is
   * read and written under the new dataset); the parent stays untouched.
   * `add` puts new image files (local paths, e.g. a multipart upload's temp files) into class `to`: each is validated
   * like an archive's images (`maxImagePixels`), unreadable ones end up in the manifest's `rejected` with the
   * `rejected` given (files the caller refused already, say too large); in a dataset with train/val folders they go
   * to train. Every added file rejected is `REVISION_INVALID` with `details.rejected`.
   * Throws `DATASET_NOT_FOUND`, `REVISION_INVALID`, or `STORAGE_UNAVAILABLE` (and leaves nothing).
   */
  revise(
    parentId: string,
    opts: { change: Omit<RevisionChange, 'add'>; add?: AddedFiles; name?: string; maxClasses: number },
  ): Promise<DatasetManifest>
  /**
   * Absolute path of a stored image file (goes through safeJoin). Only where DATA_DIR is the store (no
   * STORAGE_URL); code that must also run on S3 uses `readImage` or `openImage`.
   */
  imageFile(id: string, image: DatasetImage): string
  /** The stored bytes of one of the dataset's images. @throws AppError NOT_FOUND when it is not there */
  readImage(id: string, image: DatasetImage): Promise<Buffer>
  /** One stored image by its path under `images/` (`<class>/<file>`), for serving; undefined when absent. */
  openImage(id: string, imagePath: string): Promise<BlobStream | undefined>
}

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
const MANIFEST = 'manifest.json'
const IMAGES_DIR = 'images'
/**
 * Files read, validated and parked at once while the archive is walked on: each waits on libuv's four threads
 * (the read, sharp, the write), so a few in flight keep them busy; memory stays bounded by this many files.
 */
const CHECKS_IN_FLIGHT = 4
/** Holds validated images inside the staging folder until the layout of the whole archive is known. */
const INCOMING_DIR = 'incoming'

/**
 * Datasets under `datasets/<id>/` of the store: `images/<class>/<file>` and `manifest.json`, written last, which
 * marks the dataset complete. An archive is ingested into a staging folder under this process's `uploads/` (the
 * class layout is only known once the whole archive is read), then published: one rename on disk, image by image
 * then the manifest on S3. `shared` defaults to DATA_DIR itself.
 */
export function createDatasetStore(layout: DataLayout, shared: BlobStore = localBlobStore(layout.root)): DatasetStore {
  const store = scopedStore(shared, 'datasets')
  const imageKey = (id: string, imagePath: string) => {
    if (!isId(id)) throw new AppError('DATASET_NOT_FOUND', `no dataset ${id}`)
    return `${id}/${imagePath}`
  }

  async function readManifest(id: string): Promise<DatasetManifest | undefined> {
    if (!isId(id)) return undefined
    const bytes = await store.get(`${id}/${MANIFEST}`)
    return bytes && (JSON.parse(bytes.toString('utf8')) as DatasetManifest)
  }

  return {
    async create(archivePath, { name, limits }) {
      const format = await detectArchiveFormat(archivePath)
      const id = randomUUID()
      const staging = path.join(layout.uploads, `.staging-${id}`)
      try {
        await mkdir(staging, { recursive: true })
        const entries = readArchiveEntries(archivePath, format, {
          maxFiles: limits.maxImages,
          maxInflatedBytes: limits.maxInflatedBytes,
          maxFileBytes: limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
        })
        const ingested = await ingest(staging, entries, limits)
        const manifest: DatasetManifest = { id, name, createdAt: new Date().toISOString(), ...ingested }
        await writeJsonAtomic(path.join(staging, MANIFEST), manifest)
        await store.publish(id, { dir: staging }, MANIFEST)
        return manifest
      } catch (err) {
        throw asStorageError(err)
      } finally {
        await rm(staging, { recursive: true, force: true })
      }
    },

    get: readManifest,

    async list() {
      const names = await store.children('')
      const manifests = await Promise.all(names.filter(isId).map(readManifest))
      return manifests
        .filter((m): m is DatasetManifest => m !== undefined)
        .map(({ images: _images, rejected: _rejected, ...summary }) => summary)
        .sort((a, b) => compare(b.createdAt, a.createdAt) || compare(a.id, b.id))
    },

    async remove(id) {
      if (!isId(id)) return false
      return store.deletePrefix(id, MANIFEST)
    },

    async revise(parentId, { change, add, name, maxClasses }) {
      const parent = await readManifest(parentId)
      if (!parent) throw new AppError('DATASET_NOT_FOUND', `no dataset ${parentId}`)
      const checked = add && (await checkAddedFiles(add))
      const revised = planRevision(parent.images, { ...change, ...(checked && { add: { to: checked.to, images: checked.valid } }) }, { maxClasses })
      // New images of a dataset with train/val folders go to train: val stays the set the parent was measured on.
      const images = revised.map((r) => (r.added !== undefined && parent.hasSplit ? { ...r.image, split: 'train' as const } : r.image))
      const counts = new Map<string, number>()
      for (const image of images) counts.set(image.label, (counts.get(image.label) ?? 0) + 1)
      const classes = [...counts].map(([n, count]) => ({ name: n, count })).sort((a, b) => compare(a.name, b.name))
      const id = randomUUID()
      const manifest: DatasetManifest = {
        id,
        name: name ?? `${parent.name} (revised)`,
        createdAt: new Date().toISOString(),
        imageCount: images.length,
        classes,
        rejected: checked?.rejected ?? [],
        warnings: datasetWarnings({ classes, images, hasSplit: parent.hasSplit }),
        hasSplit: parent.hasSplit,
        parentId,
        images,
      }
      // Staged in this process's uploads/ and published like an ingested archive: one rename on disk, image by
      // image then the manifest on S3.
      const staging = path.join(layout.uploads, `.staging-${id}`)
      const removed = () => new AppError('DATASET_NOT_FOUND', `dataset ${parentId} was removed during the revision`)
      try {
        for (const folder of new Set(images.map((image) => path.dirname(image.path)))) {
          await mkdir(safeJoin(staging, folder), { recursive: true })
        }
        for (const { image, from, added } of revised) {
          const to = safeJoin(staging, image.path)
          const addedFile = added === undefined ? undefined : checked?.valid[added]?.file
          if (addedFile !== undefined) {
            await linkOrCopy(addedFile, to)
            continue
          }
          if (from === undefined) throw new Error(`revision image ${image.path} has no source`)
          const file = localFile(store, imageKey(parentId, from))
          if (file) {
            await linkOrCopy(file, to)
          } else {
            const bytes = await store.get(imageKey(parentId, from))
            if (!bytes) throw removed()
            await writeFile(to, bytes)
          }
        }
        await writeJsonAtomic(path.join(staging, MANIFEST), manifest)
        await store.publish(id, { dir: staging }, MANIFEST)
      } catch (err) {
        // The parent was removed while its images were being carried over.
        if (isNotFound(err)) throw removed()
        throw asStorageError(err)
      } finally {
        await rm(staging, { recursive: true, force: true })
      }
      return manifest
    },

    imageFile(id, image) {
      if (!isId(id)) throw new AppError('DATASET_NOT_FOUND', `no dataset ${id}`)
      if (shared.remote) throw new Error('imageFile reads DATA_DIR, which is not the store under STORAGE_URL: use readImage')
      return safeJoin(layout.datasets, id, image.path)
    },

    async readImage(id, image) {
      const bytes = await store.get(imageKey(id, image.path))
      if (!bytes) throw new AppError('NOT_FOUND', `dataset ${id} has no image ${image.path}`)
      return bytes
    },

    async openImage(id, imagePath) {
      // Class and file names were sanitised at ingestion: no empty, dot or hidden parts can name an image.
      if (imagePath.split('/').some((part) => part === '' || part.startsWith('.'))) return undefined
      return store.stream(imageKey(id, `${IMAGES_DIR}/${imagePath}`))
    },
  }
}

/**
 * Validates the files of `add` as archive images are; throws `REVISION_INVALID` when none is left. Reads one file
 * at a time, each bounded by the caller's per-file limit.
 */
async function checkAddedFiles(add: AddedFiles) {
  const rejected: RejectedFile[] = [...add.rejected]
  const valid: { name: string; file: string; sha256: string }[] = []
  for (const { name, file } of add.files) {
    const data = await readFile(file)
    const image = await validateImage(data, { maxPixels: add.maxImagePixels })
    if (image.ok) valid.push({ name, file, sha256: createHash('sha256').update(data).digest('hex') })
    else rejected.push({ path: name, reason: image.reason })
  }
  if (valid.length === 0 && rejected.length > 0) {
    throw new AppError('REVISION_INVALID', `all ${rejected.length} added files were rejected: ${rejected[0]?.reason}`, {
      problems: rejected.map((r) => `'${r.path}': ${r.reason}`),
      rejected,
    })
  }
  return { to: add.to, valid, rejected }
}

type Ingested = Omit<DatasetManifest, 'id' | 'name' | 'createdAt'>

interface Candidate {
  source: string
  segments: string[]
  incoming: string
  sha256: string
}

/**
 * Streams the archive into `staging`: each file is read, validated and parked under `incoming/` (a few at once,
 * see {@link CHECKS_IN_FLIGHT}), in archive order; once the whole archive is seen (the wrapper folder and the split
 * are only known then), images move to `images/<class>/`.
 */
async function ingest(
  staging: string,
  entries: AsyncIterable<ArchiveEntry>,
  limits: IngestLimits,
): Promise<Ingested> {
  const incoming = path.join(staging, INCOMING_DIR)
  await mkdir(incoming, { recursive: true })
  const rejected: RejectedFile[] = []
  // Archive order, filled as checks finish; a hole is a rejected file.
  const checked: (Candidate | undefined)[] = []
  const running = new Set<Promise<void>>()
  let failure: { err: unknown } | undefined
  /** Reads, validates and parks one file beside the next ones (each step waits on libuv's threads). */
  const check = async (n: number, entry: ArchiveEntry, segments: string[]) => {
    const source = entry.path
    let data: Buffer
    try {
      data = await entry.read()
    } catch (err) {
      if (!(err instanceof EntryUnreadable)) throw err
      rejected.push({ path: source, reason: err.message })
      return
    }
    const image = await validateImage(data, { maxPixels: limits.maxImagePixels })
    if (!image.ok) {
      rejected.push({ path: source, reason: image.reason })
      return
    }
    const parked = path.join(incoming, String(n))
    await writeFile(parked, data)
    checked[n] = { source, segments, incoming: parked, sha256: createHash('sha256').update(data).digest('hex') }
  }

  let files = 0
  try {
    await readEntries()
  } finally {
    await Promise.all(running) // settled either way: their errors land in `failure`
  }
  if (failure) throw failure.err
  const candidates = checked.filter((c): c is Candidate => c !== undefined)

  async function readEntries() {
    for await (const entry of entries) {
      if (failure) return
      if (entry.kind === 'directory') continue
      const reject = (reason: string) => rejected.push({ path: entry.path, reason })
      const entryPath = checkEntryPath(entry.path)
      if (!entryPath.ok) {
        reject(entryPath.reason)
        continue
      }
      if (entry.kind === 'link') {
        reject('links are not allowed')
        continue
      }
      if (entry.kind !== 'file') {
        reject('not a regular file')
        continue
      }
      if (entry.unreadable) {
        reject(entry.unreadable)
        continue
      }
      while (running.size >= CHECKS_IN_FLIGHT) await Promise.race(running)
      // Read inside the check: a zip's entries read at once; a tar's next entry comes once this one is read.
      const task: Promise<void> = check(files++, entry, entryPath.segments).then(
        () => void running.delete(task),
        (err: unknown) => {
          running.delete(task)
          failure ??= { err }
        },
      )
      running.add(task)
    }
  }

  const plan = planImageFolder(candidates.map((c) => c.segments))
  const names = new FileNameAllocator()
  const images: DatasetImage[] = []
  const madeDirs = new Set<string>()
  for (const [i, candidate] of candidates.entries()) {
    const placement = plan.placements[i]
    if (!placement || 'reason' in placement) {
      rejected.push({ path: candidate.source, reason: placement?.reason ?? 'not placed' })
      await unlink(candidate.incoming)
      continue
    }
    const fileName = names.allocate(placement.label, sanitizeFileName(candidate.segments.at(-1) ?? ''))
    const folder = safeJoin(staging, IMAGES_DIR, placement.label)
    if (!madeDirs.has(folder)) {
      await mkdir(folder, { recursive: true })
      madeDirs.add(folder)
    }
    await rename(candidate.incoming, path.join(folder, fileName))
    images.push({
      path: `${IMAGES_DIR}/${placement.label}/${fileName}`,
      label: placement.label,
      sha256: candidate.sha256,
      ...(placement.split ? { split: placement.split } : {}),
      source: candidate.source,
    })
  }
  await rm(incoming, { recursive: true, force: true })

  rejected.sort((a, b) => compare(a.path, b.path))
  images.sort((a, b) => compare(a.label, b.label) || compare(a.path, b.path))
  const counts = new Map<string, number>()
  for (const image of images) counts.set(image.label, (counts.get(image.label) ?? 0) + 1)
  const classes = [...counts].map(([name, count]) => ({ name, count })).sort((a, b) => compare(a.name, b.name))
  if (classes.length > limits.maxClasses) {
    throw new AppError('PAYLOAD_TOO_LARGE', `the archive holds ${classes.length} classes, more than ${limits.maxClasses}`, {
      limit: 'MAX_DATASET_CLASSES',
      max: limits.maxClasses,
    })
  }

  const sample = { rejected: rejected.slice(0, 20) }
  if (images.length === 0) {
    const why = rejected.length === 0 ? 'the archive holds no files' : `all ${rejected.length} files were rejected`
    throw new AppError('DATASET_INVALID', `no valid images in class folders: ${why}`, sample)
  }
  if (classes.length < 2) {
    const found = classes.map((c) => `'${c.name}'`).join(', ')
    throw new AppError('TOO_FEW_CLASSES', `a dataset needs at least 2 classes with images; found 1: ${found}`, {
      classes,
      ...sample,
    })
  }
  const { hasSplit } = plan
  return {
    imageCount: images.length,
    classes,
    rejected,
    warnings: datasetWarnings({ classes, images, hasSplit }),
    hasSplit,
    images,
  }
}

/** A hard link shares the bytes of an image two datasets hold; across devices (or without link support) a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err
    await copyFile(from, to)
  }
}

/** Code-point order: the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}
