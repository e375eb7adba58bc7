/**
 * Hostile dataset uploads against the real HTTP server: each gets its status and code, nothing escapes DATA_DIR,
 * nothing half-stored is visible, and the service still answers and predicts afterwards.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { buffer } from 'node:stream/consumers'
import tar from 'tar-stream'
import yazl from 'yazl'
import { makeImageFolder, makeTar, makeZip, type ArchiveFile } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { json } from '../helpers/http.js'
import { expectAlive, expectError, pngBomb, storeTinyModel, uploadDataset, validZip } from './support.js'

const MAX_UPLOAD_BYTES = 1_000_000
const MAX_DATASET_IMAGES = 30
const MAX_DATASET_INFLATED_BYTES = 3_000_000
const MAX_DATASET_CLASSES = 4

let service: TestService
let valid: ArchiveFile[]

beforeAll(async () => {
  service = await startTestService({
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    MAX_DATASET_IMAGES: String(MAX_DATASET_IMAGES),
    MAX_DATASET_INFLATED_BYTES: String(MAX_DATASET_INFLATED_BYTES),
    MAX_DATASET_CLASSES: String(MAX_DATASET_CLASSES),
    MAX_IMAGE_PIXELS: '1000000',
    RATE_LIMIT_UPLOADS_PER_MIN: '1000',
  })
  await storeTinyModel(service)
  valid = await makeImageFolder({ cats: 2, dogs: 2 }, { size: 32 })
})
afterAll(async () => {
  await service?.close()
})
afterEach(async () => {
  await expectAlive(service)
  // No staging folder, upload or half dataset is left behind, whatever the attack did.
  const leftovers = (await readdir(path.join(service.config.DATA_DIR, 'datasets')).catch(() => [])).filter((n) => n.startsWith('.'))
  expect(leftovers).toEqual([])
  expect(await readdir(path.join(service.config.DATA_DIR, 'uploads')).catch(() => [])).toEqual([])
})

const rejectedPaths = (body: any): string[] => (body.rejected ?? body.error?.details?.rejected ?? []).map((r: { path: string }) => r.path)

describe('path traversal', () => {
  const outside = `evil-${randomUUID().slice(0, 8)}.png`
  const traversal = [`../${outside}`, `cats/../../${outside}`, `/tmp/${outside}`, `..\\..\\${outside}`]

  test.each(['zip', 'tar'])('%s: ../, absolute and backslash paths are refused, the rest is kept, nothing lands outside', async (kind) => {
    const png = await makeImage('red-circle', { size: 32 })
    const hostile = traversal.map((p) => ({ path: p, data: png }))
    const alone = kind === 'zip' ? await makeZip(hostile) : await makeTar(hostile)
    const refused = await uploadDataset(service, alone, `evil.${kind}`)
    expectError(refused, 400, 'DATASET_INVALID')

    const mixed = kind === 'zip' ? await makeZip([...valid, ...hostile]) : await makeTar([...valid, ...hostile])
    const stored = await uploadDataset(service, mixed, `mixed.${kind}`)
    expect(stored.status).toBe(201)
    expect(stored.body.imageCount).toBe(4)
    // Zip names are reported with backslashes turned into slashes, as a zip reader on Windows would see them.
    const reported = kind === 'zip' ? traversal.map((p) => p.replaceAll('\\', '/')) : traversal
    expect(rejectedPaths(stored.body).sort()).toEqual([...reported].sort())
    for (const place of [path.join(service.config.DATA_DIR, '..', outside), path.join(os.tmpdir(), outside), path.join('/', outside)]) {
      expect(existsSync(place)).toBe(false)
    }
  })

  test('tar symlinks and hard links (to /etc/passwd and ../) are refused as links', async () => {
    const pack = tar.pack()
    const out = buffer(pack as AsyncIterable<Buffer>)
    for (const file of valid) pack.entry({ name: file.path }, file.data as Buffer)
    pack.entry({ name: 'cats/passwd.png', type: 'symlink', linkname: '/etc/passwd' })
    pack.entry({ name: 'dogs/up.png', type: 'symlink', linkname: '../../../../etc' })
    pack.entry({ name: 'cats/hard.png', type: 'link', linkname: '../../etc/passwd' })
    pack.finalize()
    const stored = await uploadDataset(service, await out, 'links.tar')
    expect(stored.status).toBe(201)
    expect(stored.body.imageCount).toBe(4)
    expect(stored.body.rejected).toEqual(
      ['cats/hard.png', 'cats/passwd.png', 'dogs/up.png'].map((p) => ({ path: p, reason: 'links are not allowed' })),
    )
  })

  test('a zip symlink entry is refused as a link', async () => {
    const zip = new yazl.ZipFile()
    for (const file of valid) zip.addBuffer(file.data as Buffer, file.path)
    zip.addBuffer(Buffer.from('/etc/passwd'), 'cats/passwd.png', { mode: 0o120777 })
    zip.end()
    const stored = await uploadDataset(service, await buffer(zip.outputStream), 'links.zip')
    expect(stored.status).toBe(201)
    expect(stored.body.rejected).toEqual([{ path: 'cats/passwd.png', reason: 'links are not allowed' }])
  })
})

describe('bombs', () => {
  test('a zip of 64 MB of zeros in a 64 KB upload stops at the inflated-bytes limit', async () => {
    const zeros = Buffer.alloc(16 * 1024 * 1024)
    const bomb = await makeZip([...valid, ...['a', 'b', 'c', 'd'].map((n) => ({ path: `cats/${n}.png`, data: zeros }))])
    expect(bomb.length).toBeLessThan(MAX_UPLOAD_BYTES)
    const error = expectError(await uploadDataset(service, bomb, 'bomb.zip'), 413, 'PAYLOAD_TOO_LARGE')
    expect(error.details).toEqual({ limit: 'MAX_DATASET_INFLATED_BYTES', max: MAX_DATASET_INFLATED_BYTES })
  })

  test('a gzip bomb (tar.gz) stops at the inflated-bytes limit', async () => {
    const bomb = await makeTar([...valid, { path: 'cats/zeros.png', data: Buffer.alloc(32 * 1024 * 1024) }], { gzip: true })
    expect(bomb.length).toBeLessThan(MAX_UPLOAD_BYTES)
    const error = expectError(await uploadDataset(service, bomb, 'bomb.tar.gz'), 413, 'PAYLOAD_TOO_LARGE')
    expect(error.details.limit).toBe('MAX_DATASET_INFLATED_BYTES')
  })

  test('too many entries stop at the file limit', async () => {
    const many = await makeZip(Array.from({ length: MAX_DATASET_IMAGES + 1 }, (_, i) => ({ path: `c${i % 2}/${i}.txt`, data: 'x' })))
    const error = expectError(await uploadDataset(service, many, 'many.zip'), 413, 'PAYLOAD_TOO_LARGE')
    expect(error.details).toEqual({ limit: 'MAX_DATASET_IMAGES', max: MAX_DATASET_IMAGES })
  })

  test('a 50000×50000 PNG is rejected from its header, the rest of the dataset is kept', async () => {
    const bomb = pngBomb()
    expect(bomb.length).toBeLessThan(4096)
    const stored = await uploadDataset(service, await makeZip([...valid, { path: 'cats/bomb.png', data: bomb }]), 'bomb.zip')
    expect(stored.status).toBe(201)
    expect(stored.body.rejected).toEqual([{ path: 'cats/bomb.png', reason: expect.stringMatching(/exceeds 1000000 pixels \(50000x50000\)/) }])
  })
})

describe('bad files and bad archives', () => {
  test('truncated and corrupt JPEG/PNG, and text named .jpg, are rejected by name with a reason', async () => {
    const png = await makeImage('blue-stripes', { size: 32 })
    const jpeg = await makeImage('green-checker', { size: 32, format: 'jpeg' })
    const corrupt = Buffer.from(png)
    corrupt.fill(0x41, 40, 200) // inside IDAT: the header still reads, the pixels do not
    const files = [
      ...valid,
      { path: 'cats/truncated.png', data: png.subarray(0, png.length / 2) },
      { path: 'cats/truncated.jpg', data: jpeg.subarray(0, jpeg.length / 2) },
      { path: 'dogs/corrupt.png', data: corrupt },
      { path: 'dogs/notes.jpg', data: 'this is not a picture' },
    ]
    const stored = await uploadDataset(service, await makeZip(files), 'bad.zip')
    expect(stored.status).toBe(201)
    expect(stored.body.imageCount).toBe(4)
    const reasons = Object.fromEntries(stored.body.rejected.map((r: { path: string; reason: string }) => [r.path, r.reason]))
    expect(Object.keys(reasons).sort()).toEqual(['cats/truncated.jpg', 'cats/truncated.png', 'dogs/corrupt.png', 'dogs/notes.jpg'])
    expect(reasons['dogs/notes.jpg']).toMatch(/not an image/)
    expect(reasons['cats/truncated.png']).toMatch(/corrupt or truncated/)
  })

  test.each([
    ['plain text', async () => Buffer.from('hello, I am a zip file, honest')],
    ['an image', async () => makeImage('red-circle')],
    ['an empty upload', async () => Buffer.alloc(0)],
    ['an empty tar (two zero blocks)', async () => Buffer.alloc(1024)],
  ])('%s is ARCHIVE_INVALID', async (_what, bytes) => {
    expectError(await uploadDataset(service, await bytes(), 'set.zip'), 400, 'ARCHIVE_INVALID')
  })

  test('a truncated zip is ARCHIVE_INVALID', async () => {
    const zip = await validZip()
    expectError(await uploadDataset(service, zip.subarray(0, zip.length - 30), 'cut.zip'), 400, 'ARCHIVE_INVALID')
  })

  test('an empty zip is DATASET_INVALID', async () => {
    expectError(await uploadDataset(service, await makeZip([]), 'empty.zip'), 400, 'DATASET_INVALID')
  })

  test('one class only is TOO_FEW_CLASSES', async () => {
    expectError(await uploadDataset(service, await validZip({ cats: 3 }), 'one.zip'), 400, 'TOO_FEW_CLASSES')
  })

  test('more classes than MAX_DATASET_CLASSES is 413 with the limit named', async () => {
    const counts = Object.fromEntries(Array.from({ length: MAX_DATASET_CLASSES + 1 }, (_, i) => [`class${i}`, 1]))
    const error = expectError(await uploadDataset(service, await validZip(counts), 'wide.zip'), 413, 'PAYLOAD_TOO_LARGE')
    expect(error.details).toEqual({ limit: 'MAX_DATASET_CLASSES', max: MAX_DATASET_CLASSES })
  })
})

describe('names', () => {
  test('class names with unicode, spaces and dots are kept and stored safely', async () => {
    const names = ['café au lait', 'v1.2', '猫', 'ends with dot.']
    const files = await makeImageFolder(Object.fromEntries(names.map((n) => [n, 1])), { size: 32 })
    const stored = await uploadDataset(service, await makeZip(files), 'names.zip')
    expect(stored.status).toBe(201)
    const expected = [...names].sort().map((name) => ({ name, count: 1 }))
    expect(stored.body.classes).toEqual(expected)
    const again = await json(await fetch(`${service.url}/datasets/${stored.body.id}`))
    expect(again.body.classes).toEqual(expected)
    const onDisk = await readdir(path.join(service.config.DATA_DIR, 'datasets', stored.body.id, 'images'))
    expect(onDisk.sort()).toEqual([...names].sort())
  })

  test('file names differing only by case are both kept under distinct names', async () => {
    const [a, b] = [await makeImage('red-circle', { size: 32, seed: 1 }), await makeImage('red-circle', { size: 32, seed: 2 })]
    const files = [...valid, { path: 'cats/Photo.png', data: a }, { path: 'cats/photo.png', data: b }]
    const stored = await uploadDataset(service, await makeZip(files), 'case.zip')
    expect(stored.status).toBe(201)
    expect(stored.body.classes).toEqual([{ name: 'cats', count: 4 }, { name: 'dogs', count: 2 }])
    const stems = (await readdir(path.join(service.config.DATA_DIR, 'datasets', stored.body.id, 'images', 'cats'))).map((n) => n.toLowerCase())
    expect(new Set(stems).size).toBe(4)
  })
})

describe('transport', () => {
  test('an upload over MAX_UPLOAD_BYTES is 413 with the limit named, and nothing is kept', async () => {
    const big = Buffer.concat([await validZip(), Buffer.alloc(MAX_UPLOAD_BYTES * 2, 7)])
    const error = expectError(await uploadDataset(service, big, 'big.zip'), 413, 'PAYLOAD_TOO_LARGE')
    expect(error.details).toEqual({ limit: 'MAX_UPLOAD_BYTES', max: MAX_UPLOAD_BYTES })
  })

  test('a dataset sent as JSON or raw bytes is 415', async () => {
    for (const [type, body] of [
      ['application/json', '{"file":"x"}'],
      ['application/zip', new Uint8Array(await validZip())],
    ] as const) {
      const response = await json(await fetch(`${service.url}/datasets`, { method: 'POST', headers: { 'content-type': type }, body }))
      expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE')
    }
  })

  test('a multipart body without a "file" field is 400', async () => {
    const form = new FormData()
    form.append('archive', new Blob([new Uint8Array(await validZip())]), 'set.zip')
    expectError(await json(await fetch(`${service.url}/datasets`, { method: 'POST', body: form })), 400, 'VALIDATION')
  })

  test('after all of it, exactly the accepted datasets are listed', async () => {
    const listed = await json(await fetch(`${service.url}/datasets`))
    expect(listed.status).toBe(200)
    for (const dataset of listed.body.datasets) expect(dataset.imageCount).toBeGreaterThanOrEqual(2)
  })
})
