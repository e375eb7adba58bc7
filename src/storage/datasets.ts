import { createHash, randomUUID } from 'node:crypto'
import { copyFile, link, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { detectArchiveFormat, EntryUnreadable, readArchiveEntries, type ArchiveEntry } from '../datasets/archive-entries.js'
import { datasetWarnings } from '../datasets/dataset-warnings.js'
import { FileNameAllocator, sanitizeFileName } from '../datasets/file-names.js'
import { checkEntryPath, planImageFolder } from '../datasets/image-folder.js'
import { planRevision, type RevisionChange } from '../datasets/revision.js'
import { validateImage } from '../datasets/validate-image.js'
import { AppError } from '../errors.js'
import { publishDir, writeJsonAtomic } from './atomic.js'
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
   * carried over by content (hard links, copies across devices), not validated again; the parent stays untouched.
   * Throws `DATASET_NOT_FOUND`, `REVISION_INVALID`, or `STORAGE_UNAVAILABLE` (and leaves nothing).
   */
  revise(parentId: string, opts: { change: RevisionChange; name?: string; maxClasses: number }): Promise<DatasetManifest>
  /** Absolute path of a stored image file (goes through safeJoin). */
  imageFile(id: string, image: DatasetImage): string
}

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
const MANIFEST = 'manifest.json'
const IMAGES_DIR = 'images'
/** Holds validated images inside the staging folder until the layout of the whole archive is known. */
const INCOMING_DIR = 'incoming'

/** Datasets on disk: `<layout.datasets>/<id>/manifest.json` and `images/<class>/<file>`, each published whole. */
export function createDatasetStore(layout: DataLayout): DatasetStore {
  const folderOf = (id: string) => safeJoin(layout.datasets, id)

  async function readManifest(id: string): Promise<DatasetManifest | undefined> {
    if (!isId(id)) return undefined
    try {
      return JSON.parse(await readFile(path.join(folderOf(id), MANIFEST), 'utf8')) as DatasetManifest
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  return {
    async create(archivePath, { name, limits }) {
      const format = await detectArchiveFormat(archivePath)
      const id = randomUUID()
      let manifest: DatasetManifest | undefined
      try {
        await publishDir(folderOf(id), async (staging) => {
          const entries = readArchiveEntries(archivePath, format, {
            maxFiles: limits.maxImages,
            maxInflatedBytes: limits.maxInflatedBytes,
            maxFileBytes: limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
          })
          const ingested = await ingest(staging, entries, limits)
          manifest = { id, name, createdAt: new Date().toISOString(), ...ingested }
          await writeJsonAtomic(path.join(staging, MANIFEST), manifest)
        })
      } catch (err) {
        throw asStorageError(err)
      }
      return manifest as DatasetManifest
    },

    get: readManifest,

    async list() {
      let names: string[]
      try {
        names = await readdir(layout.datasets)
      } catch (err) {
        if (isNotFound(err)) return []
        throw asStorageError(err)
      }
      const manifests = await Promise.all(names.filter(isId).map(readManifest))
      return manifests
        .filter((m): m is DatasetManifest => m !== undefined)
        .map(({ images: _images, rejected: _rejected, ...summary }) => summary)
        .sort((a, b) => compare(b.createdAt, a.createdAt) || compare(a.id, b.id))
    },

    async remove(id) {
      if (!isId(id)) return false
      // Renamed away first so readers never see a dataset with half its files.
      const doomed = path.join(layout.datasets, `.removing-${id}-${randomUUID()}`)
      try {
        await rename(folderOf(id), doomed)
      } catch (err) {
        if (isNotFound(err)) return false
        throw err
      }
      await rm(doomed, { recursive: true, force: true })
      return true
    },

    async revise(parentId, { change, name, maxClasses }) {
      const parent = await readManifest(parentId)
      if (!parent) throw new AppError('DATASET_NOT_FOUND', `no dataset ${parentId}`)
      const revised = planRevision(parent.images, change, { maxClasses })
      const images = revised.map((r) => r.image)
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
        rejected: [],
        warnings: datasetWarnings({ classes, images, hasSplit: parent.hasSplit }),
        hasSplit: parent.hasSplit,
        parentId,
        images,
      }
      try {
        await publishDir(folderOf(id), async (staging) => {
          for (const folder of new Set(images.map((image) => path.dirname(image.path)))) {
            await mkdir(safeJoin(staging, folder), { recursive: true })
          }
          for (const { image, from } of revised) {
            await linkOrCopy(safeJoin(folderOf(parentId), from), safeJoin(staging, image.path))
          }
          await writeJsonAtomic(path.join(staging, MANIFEST), manifest)
        })
      } catch (err) {
        // The parent was removed while its images were being linked.
        if (isNotFound(err)) throw new AppError('DATASET_NOT_FOUND', `dataset ${parentId} was removed during the revision`)
        throw asStorageError(err)
      }
      return manifest
    },

    imageFile(id, image) {
      if (!isId(id)) throw new AppError('DATASET_NOT_FOUND', `no dataset ${id}`)
      return safeJoin(layout.datasets, id, image.path)
    },
  }
}

type Ingested = Omit<DatasetManifest, 'id' | 'name' | 'createdAt'>

interface Candidate {
  source: string
  segments: string[]
  incoming: string
  sha256: string
}

/**
 * Streams the archive into `staging`: each file is read alone, validated, and parked under `incoming/`; once the
 * whole archive is seen (the wrapper folder and the split are only known then), images move to `images/<class>/`.
 */
async function ingest(
  staging: string,
  entries: AsyncIterable<ArchiveEntry>,
  limits: IngestLimits,
): Promise<Ingested> {
  const incoming = path.join(staging, INCOMING_DIR)
  await mkdir(incoming, { recursive: true })
  const rejected: RejectedFile[] = []
  const candidates: Candidate[] = []

  for await (const entry of entries) {
    if (entry.kind === 'directory') continue
    const reject = (reason: string) => rejected.push({ path: entry.path, reason })
    const checked = checkEntryPath(entry.path)
    if (!checked.ok) {
      reject(checked.reason)
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
    let data: Buffer
    try {
      data = await entry.read()
    } catch (err) {
      if (err instanceof EntryUnreadable) {
        reject(err.message)
        continue
      }
      throw err
    }
    const image = await validateImage(data, { maxPixels: limits.maxImagePixels })
    if (!image.ok) {
      reject(image.reason)
      continue
    }
    const parked = path.join(incoming, String(candidates.length))
    await writeFile(parked, data)
    candidates.push({
      source: entry.path,
      segments: checked.segments,
      incoming: parked,
      sha256: createHash('sha256').update(data).digest('hex'),
    })
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
