import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { AppError } from '../../src/errors.js'
import { dataLayout, type DataLayout } from '../../src/storage/layout.js'
import { createDatasetStore, type DatasetStore, type IngestLimits } from '../../src/storage/datasets.js'
import { makeImageFolder, makeTar, makeZip, type ArchiveFile } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'

const LIMITS: IngestLimits = { maxImages: 1000, maxImagePixels: 1_000_000, maxInflatedBytes: 100 * 1024 * 1024, maxClasses: 100 }

let root: string
let layout: DataLayout
let store: DatasetStore
let uploads = 0

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'imagetune-datasets-'))
  layout = dataLayout(path.join(root, 'data'))
  store = createDatasetStore(layout)
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

/** Writes an upload as the HTTP layer would, under a name that says nothing of its format. */
async function upload(bytes: Buffer): Promise<string> {
  uploads += 1
  const file = path.join(root, `upload-${uploads}.bin`)
  await writeFile(file, bytes)
  return file
}

async function ingest(bytes: Buffer, limits: Partial<IngestLimits> = {}) {
  return store.create(await upload(bytes), { name: 'test set', limits: { ...LIMITS, ...limits } })
}

async function expectAppError(promise: Promise<unknown>, code: string): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AppError)
  expect((err as AppError).code).toBe(code)
  return err as AppError
}

/** Dataset folders visible to readers (staging and removal folders start with a dot). */
async function visibleDatasets(): Promise<string[]> {
  return (await readdir(layout.datasets).catch(() => [] as string[])).filter((n) => !n.startsWith('.'))
}

async function allEntries(): Promise<string[]> {
  return readdir(layout.datasets).catch(() => [] as string[])
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

describe('dataset store', () => {
  let twoClasses: ArchiveFile[]

  beforeAll(async () => {
    twoClasses = await makeImageFolder({ cat: 5, dog: 5 })
  })

  test.each([
    ['zip', () => makeZip(twoClasses)],
    ['tar', () => makeTar(twoClasses)],
    ['tar.gz', () => makeTar(twoClasses, { gzip: true })],
  ])('ingests a %s archive detected by content', async (_format, make) => {
    const manifest = await ingest(await make())
    expect(manifest.imageCount).toBe(10)
    expect(manifest.classes).toEqual([
      { name: 'cat', count: 5 },
      { name: 'dog', count: 5 },
    ])
    expect(manifest.rejected).toEqual([])
    expect(manifest.warnings).toEqual([])
    expect(manifest.hasSplit).toBe(false)
    expect(manifest.images[0]).toEqual({
      path: 'images/cat/000.png',
      label: 'cat',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      source: 'cat/000.png',
    })
    const stored = await readFile(store.imageFile(manifest.id, manifest.images[0]!))
    expect(stored.equals(twoClasses[0]!.data as Buffer)).toBe(true)
  })

  test('manifest sha256 is the sha256 of the stored bytes; images sorted by label then path', async () => {
    const files = await makeImageFolder({ b: 3, a: 3 }, { format: 'jpeg' })
    const manifest = await ingest(await makeZip(files))
    for (const image of manifest.images) {
      expect(sha256(await readFile(store.imageFile(manifest.id, image)))).toBe(image.sha256)
    }
    const keys = manifest.images.map((i) => `${i.label}/${i.path}`)
    expect(keys).toEqual([...keys].sort())
    expect(manifest.warnings).toEqual([
      "class 'a' has only 3 images; at least 5 recommended",
      "class 'b' has only 3 images; at least 5 recommended",
    ])
  })

  test('strips a single top folder wrapping everything', async () => {
    const files = await makeImageFolder({ roses: 5, tulips: 5 }, { prefix: 'flowers/' })
    const manifest = await ingest(await makeZip(files))
    expect(manifest.classes.map((c) => c.name)).toEqual(['roses', 'tulips'])
    expect(manifest.images[0]).toMatchObject({ path: 'images/roses/000.png', source: 'flowers/roses/000.png' })
  })

  test('train/ and val/ folders (also under a top folder, also validation/) set the split', async () => {
    const train = await makeImageFolder({ cat: 5, dog: 5 }, { prefix: 'set/train/' })
    const val = await makeImageFolder({ cat: 2, dog: 2 }, { prefix: 'set/validation/', seedOffset: 50 })
    const manifest = await ingest(await makeTar([...train, ...val], { gzip: true }))
    expect(manifest.hasSplit).toBe(true)
    expect(manifest.classes).toEqual([
      { name: 'cat', count: 7 },
      { name: 'dog', count: 7 },
    ])
    const splits = manifest.images.filter((i) => i.label === 'cat').map((i) => i.split)
    expect(splits.filter((s) => s === 'train')).toHaveLength(5)
    expect(splits.filter((s) => s === 'val')).toHaveLength(2)
    // Same base names in train/ and val/ land in one class folder, so the second gets a suffix.
    expect(new Set(manifest.images.map((i) => i.path)).size).toBe(14)
    expect(manifest.rejected).toEqual([])
  })

  test('rejects non-images, hidden files, misplaced files and links, each with a reason', async () => {
    const png = await makeImage('red-circle', { seed: 9 })
    const files = [
      ...(await makeImageFolder({ cat: 5, dog: 5 })),
      { path: 'cat/notes.jpg', data: 'this is text, not a picture' },
      { path: 'cat/empty.png', data: Buffer.alloc(0) },
      { path: 'dog/truncated.png', data: png.subarray(0, Math.floor(png.length * 0.6)) },
      { path: 'dog/.DS_Store', data: 'junk' },
      { path: '__MACOSX/cat/._000.png', data: 'resource fork' },
      { path: 'cat/Thumbs.db', data: 'junk' },
      { path: 'cat/vector.png', data: '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>' },
      { path: 'loose.png', data: png },
      { path: 'dog/deeper/inside.png', data: png },
    ]
    const manifest = await ingest(await makeZip(files))
    expect(manifest.imageCount).toBe(10)
    const reasons = Object.fromEntries(manifest.rejected.map((r) => [r.path, r.reason]))
    expect(reasons).toEqual({
      'cat/notes.jpg': 'not an image (unrecognised content)',
      'cat/empty.png': 'empty file',
      'dog/truncated.png': expect.stringMatching(/^corrupt or truncated image \(/),
      'dog/.DS_Store': 'hidden or system file',
      '__MACOSX/cat/._000.png': 'hidden or system file',
      'cat/Thumbs.db': 'hidden or system file',
      'cat/vector.png': 'unsupported image format: svg',
      'loose.png': 'not inside a class folder',
      'dog/deeper/inside.png': expect.stringMatching(/^nested folder/),
    })
  })

  test('tar symlinks and hardlinks are rejected, not followed', async () => {
    const files = await makeImageFolder({ cat: 5, dog: 5 })
    const tar = await makeTarWithLinks(files)
    const manifest = await ingest(tar)
    expect(manifest.imageCount).toBe(10)
    expect(manifest.rejected).toEqual([
      { path: 'cat/hard.png', reason: 'links are not allowed' },
      { path: 'cat/passwd.png', reason: 'links are not allowed' },
    ])
  })

  test('an image over the pixel limit is rejected', async () => {
    const files = [...(await makeImageFolder({ cat: 5, dog: 5 })), { path: 'dog/big.png', data: await makeImage('blue-stripes', { size: 200 }) }]
    const manifest = await ingest(await makeZip(files), { maxImagePixels: 100 * 100 })
    expect(manifest.rejected).toEqual([{ path: 'dog/big.png', reason: 'image exceeds 10000 pixels (200x200)' }])
  })

  test('../ and absolute paths are rejected and nothing is written outside', async () => {
    const png = await makeImage('red-circle', { seed: 3 })
    const hostile = [
      ...(await makeImageFolder({ cat: 5, dog: 5 })),
      { path: '../evil.png', data: png },
      { path: 'cat/../../evil2.png', data: png },
      { path: '/tmp/abs-evil.png', data: png },
    ]
    for (const bytes of [await makeZip(hostile), await makeTar(hostile)]) {
      const before = await readdir(root)
      const manifest = await ingest(bytes)
      expect(manifest.imageCount).toBe(10)
      expect(manifest.rejected).toEqual([
        { path: '../evil.png', reason: "path escapes the archive ('..')" },
        { path: '/tmp/abs-evil.png', reason: 'absolute path' },
        { path: 'cat/../../evil2.png', reason: "path escapes the archive ('..')" },
      ])
      expect((await readdir(root)).filter((n) => !n.startsWith('upload-'))).toEqual(before.filter((n) => !n.startsWith('upload-')))
      expect(await readdir(path.join(layout.datasets, manifest.id))).toEqual(['images', 'manifest.json'])
      const everything = await readdir(root, { recursive: true })
      expect(everything.filter((n) => n.includes('evil'))).toEqual([])
    }
  })

  test('keeps unicode and spaces in class names and dedupes file names ignoring case', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map((seed) => makeImage('green-checker', { seed })))
    const files = [
      ...(await makeImageFolder({ 'chat noir': 5, 'Ñandú 🐦': 5 })),
      { path: 'chat noir/Photo.png', data: a! },
      { path: 'chat noir/photo.png', data: b! },
      { path: 'chat noir/PHOTO.png', data: c! },
      { path: 'chat noir/we:ird*name?.png', data: c! },
    ]
    const manifest = await ingest(await makeZip(files))
    expect(manifest.classes).toEqual([
      { name: 'chat noir', count: 9 },
      { name: 'Ñandú 🐦', count: 5 },
    ])
    const sources = Object.fromEntries(manifest.images.map((i) => [i.source, i.path]))
    expect(sources['chat noir/Photo.png']).toBe('images/chat noir/Photo.png')
    expect(sources['chat noir/photo.png']).toBe('images/chat noir/photo-1.png')
    expect(sources['chat noir/PHOTO.png']).toBe('images/chat noir/PHOTO-2.png')
    expect(sources['chat noir/we:ird*name?.png']).toBe('images/chat noir/we_ird_name_.png')
    // The same bytes twice in one class is no cross-class warning.
    expect(manifest.warnings).toEqual([])
    const stored = await readdir(path.join(layout.datasets, manifest.id, 'images', 'chat noir'))
    expect(stored).toHaveLength(9)
  })

  test('warns about small, imbalanced classes and identical images across classes', async () => {
    const files = await makeImageFolder({ big: 12, small: 3 })
    files.push({ path: 'small/copy.png', data: files[0]!.data })
    const manifest = await ingest(await makeZip(files))
    expect(manifest.warnings).toEqual([
      "class 'small' has only 4 images; at least 5 recommended",
      "classes are imbalanced: 'big' has 12 images, 'small' has 4",
      // The paths the user knows, inside their archive, not the stored images/… ones.
      'identical image in classes big and small: big/000.png, small/copy.png',
    ])
  })

  test('warns when the same image sits in train/ and val/ (validation would score what was learned)', async () => {
    const train = await makeImageFolder({ cat: 6, dog: 6 }, { prefix: 'train/' })
    const val = await makeImageFolder({ cat: 2, dog: 2 }, { prefix: 'val/', seedOffset: 500 })
    val.push({ path: 'val/cat/leak.png', data: train[0]!.data })
    const manifest = await ingest(await makeZip([...train, ...val]))
    expect(manifest.hasSplit).toBe(true)
    expect(manifest.warnings).toEqual(['identical image in train and val: train/cat/000.png, val/cat/leak.png'])
  })

  test('fewer than 2 classes → TOO_FEW_CLASSES and nothing left on disk', async () => {
    const before = await allEntries()
    const err = await expectAppError(ingest(await makeZip(await makeImageFolder({ only: 5 }, { prefix: 'top/' }))), 'TOO_FEW_CLASSES')
    expect(err.message).toContain("'only'")
    expect(await allEntries()).toEqual(before)
  })

  test('no valid image → DATASET_INVALID and nothing left on disk', async () => {
    const before = await allEntries()
    await expectAppError(ingest(await makeZip([{ path: 'cat/a.jpg', data: 'text' }])), 'DATASET_INVALID')
    expect(await allEntries()).toEqual(before)
  })

  test('not an archive, a corrupt one or a truncated tar.gz → ARCHIVE_INVALID', async () => {
    const before = await allEntries()
    await expectAppError(ingest(await makeImage('red-circle')), 'ARCHIVE_INVALID')
    await expectAppError(ingest(Buffer.alloc(0)), 'ARCHIVE_INVALID')
    const zip = await makeZip(twoClasses)
    await expectAppError(ingest(zip.subarray(0, zip.length - 30)), 'ARCHIVE_INVALID')
    const tgz = await makeTar(twoClasses, { gzip: true })
    await expectAppError(ingest(tgz.subarray(0, Math.floor(tgz.length / 2))), 'ARCHIVE_INVALID')
    expect(await allEntries()).toEqual(before)
  })

  test('a zip entry with corrupt data is one rejection; the rest of the zip is read', async () => {
    const zip = await makeZip(twoClasses)
    const first = twoClasses[0]!
    // Local header (30 bytes) + name, then the entry's compressed data.
    const dataStart = 30 + Buffer.byteLength(first.path)
    for (let i = dataStart + 10; i < dataStart + 40; i += 1) zip[i] = zip[i]! ^ 0xff
    const manifest = await ingest(zip)
    expect(manifest.imageCount).toBe(9)
    expect(manifest.rejected).toEqual([{ path: first.path, reason: expect.stringMatching(/^corrupt archive entry \(/) }])
  })

  test('too many entries or too many inflated bytes → PAYLOAD_TOO_LARGE while streaming', async () => {
    const before = await allEntries()
    const zip = await makeZip(twoClasses)
    const tar = await makeTar(twoClasses, { gzip: true })
    for (const bytes of [zip, tar]) {
      const err = await expectAppError(ingest(bytes, { maxImages: 9 }), 'PAYLOAD_TOO_LARGE')
      expect(err.message).toContain('more than 9 files')
      await expectAppError(ingest(bytes, { maxInflatedBytes: 2000 }), 'PAYLOAD_TOO_LARGE')
    }
    expect(await allEntries()).toEqual(before)
  })

  test('a file over the per-file cap is one rejection, not a failure', async () => {
    const big = await makeImage('blue-stripes', { size: 256, seed: 1 })
    const cap = Math.max(...twoClasses.map((f) => (f.data as Buffer).length))
    expect(big.length).toBeGreaterThan(cap)
    for (const bytes of [await makeZip([...twoClasses, { path: 'dog/big.png', data: big }]), await makeTar([...twoClasses, { path: 'dog/big.png', data: big }])]) {
      const manifest = await ingest(bytes, { maxFileBytes: cap })
      expect(manifest.imageCount).toBe(10)
      expect(manifest.rejected).toEqual([{ path: 'dog/big.png', reason: `file too large (${big.length} bytes; limit ${cap})` }])
    }
  })

  test('get, list and remove round trip', async () => {
    const first = await ingest(await makeZip(twoClasses))
    const second = await ingest(await makeTar(twoClasses))
    expect(await store.get(first.id)).toEqual(first)
    expect(await store.get('no-such-id')).toBeUndefined()
    expect(await store.get('../etc')).toBeUndefined()
    const listed = await store.list()
    expect(listed.map((d) => d.id)).toEqual(expect.arrayContaining([first.id, second.id]))
    const stamps = listed.map((d) => d.createdAt)
    expect(stamps).toEqual([...stamps].sort().reverse())
    expect(listed[0]).not.toHaveProperty('images')
    expect(listed[0]).not.toHaveProperty('rejected')
    expect(await store.remove(first.id)).toBe(true)
    expect(await store.remove(first.id)).toBe(false)
    expect(await store.remove('../..')).toBe(false)
    expect(await store.get(first.id)).toBeUndefined()
    expect((await store.list()).map((d) => d.id)).not.toContain(first.id)
    expect(await visibleDatasets()).not.toContain(first.id)
    expect(() => store.imageFile('../x', first.images[0]!)).toThrow(AppError)
  })
})

/** A tar with a symlink to /etc/passwd and a hardlink, named like images. */
async function makeTarWithLinks(files: ArchiveFile[]): Promise<Buffer> {
  const { default: tar } = await import('tar-stream')
  const { buffer } = await import('node:stream/consumers')
  const pack = tar.pack()
  for (const file of files) pack.entry({ name: file.path }, file.data as Buffer)
  pack.entry({ name: 'cat/passwd.png', type: 'symlink', linkname: '/etc/passwd' })
  pack.entry({ name: 'cat/hard.png', type: 'link', linkname: 'cat/000.png' })
  pack.finalize()
  return buffer(pack as AsyncIterable<Buffer>)
}
