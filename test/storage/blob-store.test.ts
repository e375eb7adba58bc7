/**
 * The store's contract, run on both drivers: a local folder and a real S3-protocol server (s3rver). The
 * repositories above it (datasets, models, aliases, checkpoints, feature cache) run on both too.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { fileURLToPath } from 'node:url'
import { AppError } from '../../src/errors.js'
import { initBackend } from '../../src/ml/backend.js'
import { loadBase } from '../../src/ml/bases.js'
import { uploadBase } from '../../src/services/bases.js'
import { createAliasStore } from '../../src/storage/aliases.js'
import { createBaseStore } from '../../src/storage/bases.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { createCheckpointStore } from '../../src/storage/checkpoints.js'
import { createDatasetStore } from '../../src/storage/datasets.js'
import { createFeatureCache } from '../../src/storage/features.js'
import { dataLayout } from '../../src/storage/layout.js'
import { localBlobStore } from '../../src/storage/local-blob-store.js'
import { createModelStore } from '../../src/storage/models.js'
import { projectStore, storedBytes } from '../../src/storage/project-store.js'
import { repositoriesFor } from '../../src/storage/repositories.js'
import { s3BlobStore } from '../../src/storage/s3-blob-store.js'
import { parseStorageUrl } from '../../src/storage/storage-url.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestS3, type TestS3 } from '../helpers/s3.js'
import { writeTinyBase } from '../helpers/tiny-base.js'

let s3: TestS3
let tmp: string
const opened: BlobStore[] = []

beforeAll(async () => {
  s3 = await startTestS3()
  tmp = await mkdtemp(path.join(os.tmpdir(), 'imagetune-blob-'))
})
afterAll(async () => {
  for (const store of opened) store.close()
  await s3.close()
  await rm(tmp, { recursive: true, force: true })
})

let n = 0
/** A fresh, empty store of each kind. */
const drivers: Record<string, () => Promise<BlobStore>> = {
  local: async () => localBlobStore(await mkdtemp(path.join(tmp, 'local-'))),
  s3: async () => {
    const store = s3BlobStore(parseStorageUrl(s3.storageUrl(`c-${++n}`)))
    opened.push(store)
    return store
  },
}

describe.each(Object.keys(drivers))('BlobStore contract: %s', (driver) => {
  let store: BlobStore
  beforeEach(async () => {
    store = await drivers[driver]!()
  })

  test('put and get bytes and text; a missing key is undefined; a put replaces the object whole', async () => {
    await store.put('a/b/one.bin', Uint8Array.of(1, 2, 3))
    await store.put('a/two.txt', 'two')
    expect(await store.get('a/b/one.bin')).toEqual(Buffer.from([1, 2, 3]))
    expect((await store.get('a/two.txt'))?.toString()).toBe('two')
    expect(await store.get('a/none')).toBeUndefined()
    await store.put('a/two.txt', 'second')
    expect((await store.get('a/two.txt'))?.toString()).toBe('second')
  })

  test('a stream larger than two upload parts is stored in parts and streams back identical, with size and etag', async () => {
    const bytes = randomBytes(17 * 1024 * 1024)
    await store.put('big/blob.bin', Readable.from([bytes.subarray(0, 5_000_000), bytes.subarray(5_000_000)]))
    const opened = await store.stream('big/blob.bin')
    expect(opened?.size).toBe(bytes.length)
    expect(opened?.etag).toMatch(/^".+"$/)
    expect((await buffer(opened!.body)).equals(bytes)).toBe(true)
    expect(await store.stream('big/none.bin')).toBeUndefined()
  })

  test('list is recursive, sorted and bounded by the folder; children are the names directly below', async () => {
    for (const key of ['d/x/2.bin', 'd/x/1.bin', 'd/y.bin', 'dd/z.bin']) await store.put(key, 'v')
    expect(await store.list('d')).toEqual(['d/x/1.bin', 'd/x/2.bin', 'd/y.bin'])
    expect(await store.children('d')).toEqual(['x', 'y.bin'])
    expect(await store.list('none')).toEqual([])
    expect(await store.children('none')).toEqual([])
  })

  test('size is the bytes of every object under a folder, recursively, bounded by it; 0 for none', async () => {
    await store.put('s/a.bin', Uint8Array.of(1, 2, 3))
    await store.put('s/deep/b.txt', 'hello')
    await store.put('ss/c.bin', 'not counted')
    expect(await store.size('s')).toBe(8)
    expect(await store.size('s/deep')).toBe(5)
    expect(await store.size('none')).toBe(0)
  })

  test('deletes are idempotent; deletePrefix removes a folder whole and says whether there was one', async () => {
    await store.put('k/1', '1')
    await store.delete('k/1')
    await store.delete('k/1')
    expect(await store.get('k/1')).toBeUndefined()
    await store.put('p/m.json', 'marker')
    await store.put('p/sub/part', 'part')
    expect(await store.deletePrefix('p', 'm.json')).toBe(true)
    expect(await store.list('p')).toEqual([])
    expect(await store.deletePrefix('p', 'm.json')).toBe(false)
  })

  test('publish writes a folder from memory or from a local folder; one without its marker writes nothing', async () => {
    await store.publish('pub/one', { files: { 'model.json': '{}', 'weights.bin': Uint8Array.of(9), 'meta.json': '{"ok":1}' } }, 'meta.json')
    expect(await store.list('pub/one')).toEqual(['pub/one/meta.json', 'pub/one/model.json', 'pub/one/weights.bin'])
    const dir = path.join(tmp, `src-${driver}`)
    await mkdir(path.join(dir, 'images', 'cat'), { recursive: true })
    await writeFile(path.join(dir, 'images', 'cat', 'a.png'), 'png')
    await writeFile(path.join(dir, 'manifest.json'), '{}')
    await store.publish('pub/two', { dir }, 'manifest.json')
    expect(await store.list('pub/two')).toEqual(['pub/two/images/cat/a.png', 'pub/two/manifest.json'])
    await expect(store.publish('pub/three', { files: { 'part.bin': 'x' } }, 'meta.json')).rejects.toThrow(/marker/)
    expect(await store.list('pub/three')).toEqual([])
  })

  test('probe succeeds on a working store', async () => {
    await expect(store.probe()).resolves.toBeUndefined()
  })
})

describe.each(Object.keys(drivers))('repositories over the store: %s', (driver) => {
  let store: BlobStore
  beforeAll(async () => {
    store = await drivers[driver]!()
  })

  test('datasets: create publishes images and manifest; get, list, readImage, openImage, remove', async () => {
    const layout = dataLayout(await mkdtemp(path.join(tmp, 'data-')))
    const datasets = createDatasetStore(layout, store)
    const archive = path.join(tmp, `set-${driver}.zip`)
    await writeFile(archive, await makeZip(await makeImageFolder({ cat: 3, dog: 2 }, { size: 16 })))
    const manifest = await datasets.create(archive, { name: 'pets', limits: { maxImages: 100, maxImagePixels: 1e6, maxInflatedBytes: 1e8, maxClasses: 10 } })
    expect(manifest.classes).toEqual([{ name: 'cat', count: 3 }, { name: 'dog', count: 2 }])
    expect(await datasets.get(manifest.id)).toEqual(manifest)
    expect((await datasets.list()).map((d) => d.id)).toEqual([manifest.id])
    const image = manifest.images[0]!
    const bytes = await datasets.readImage(manifest.id, image)
    expect(bytes.length).toBeGreaterThan(0)
    const opened = await datasets.openImage(manifest.id, image.path.slice('images/'.length))
    expect((await buffer(opened!.body)).equals(bytes)).toBe(true)
    expect(await datasets.openImage(manifest.id, '../manifest.json')).toBeUndefined()
    await expect(datasets.readImage(manifest.id, { ...image, path: 'images/cat/none.png' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(await datasets.remove(manifest.id)).toBe(true)
    expect(await datasets.get(manifest.id)).toBeUndefined()
    expect(await datasets.remove(manifest.id)).toBe(false)
    expect(await store.list('datasets')).toEqual([])
  })

  test('datasets: a revision is published through the store and outlives its parent', async () => {
    const layout = dataLayout(await mkdtemp(path.join(tmp, 'data-')))
    const datasets = createDatasetStore(layout, store)
    const archive = path.join(tmp, `rev-${driver}.zip`)
    await writeFile(archive, await makeZip(await makeImageFolder({ cat: 3, dog: 3 }, { size: 16 })))
    const parent = await datasets.create(archive, { name: 'pets', limits: { maxImages: 100, maxImagePixels: 1e6, maxInflatedBytes: 1e8, maxClasses: 10 } })
    const [moved, dropped] = parent.images.filter((image) => image.label === 'cat')
    const revised = await datasets.revise(parent.id, { change: { move: [{ path: moved!.path, to: 'dog' }], drop: [dropped!.path] }, maxClasses: 10 })
    expect(revised).toMatchObject({ parentId: parent.id, imageCount: 5, classes: [{ name: 'cat', count: 1 }, { name: 'dog', count: 4 }] })
    expect(await datasets.get(revised.id)).toEqual(revised)
    expect(await datasets.get(parent.id)).toEqual(parent) // untouched
    const relabelled = revised.images.find((image) => image.sha256 === moved!.sha256)!
    expect(relabelled.path).toMatch(/^images\/dog\//)
    const original = await datasets.readImage(parent.id, moved!)
    expect((await datasets.remove(parent.id))).toBe(true)
    // Every image of the revision is its own object in the store, not a reference to the parent's.
    for (const image of revised.images) expect((await datasets.readImage(revised.id, image)).length).toBeGreaterThan(0)
    expect((await datasets.readImage(revised.id, relabelled)).equals(original)).toBe(true)
    await expect(datasets.revise(parent.id, { change: { drop: [dropped!.path] }, maxClasses: 10 })).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND' })
    expect(await readdir(layout.uploads).catch(() => [])).toEqual([]) // no staging left behind
    await datasets.remove(revised.id)
  })

  test('uploaded bases: published to the store, fetched by another machine into its own DATA_DIR and loaded there', async () => {
    await initBackend('wasm') // as jobs run; tfjs's cpu default would warn about its Node backend
    const model = await mkdtemp(path.join(tmp, 'tiny-base-'))
    await writeTinyBase(model, { size: 16, headUnits: 3 })
    const archive = path.join(tmp, `base-${driver}.zip`)
    await writeFile(archive, await makeZip(await Promise.all((await readdir(model)).map(async (name) => ({ path: name, data: await readFile(path.join(model, name)) })))))
    const apiData = await mkdtemp(path.join(tmp, 'api-'))
    const api = createBaseStore({ shared: store, local: localBlobStore(apiData) }, path.join(apiData, 'bases'))
    const limits = { maxInflatedBytes: 1e8, maxFileBytes: 1e8 }
    const stored = await uploadBase(archive, { name: 'tiny', featureLayer: 'pool' }, { store: api, basesDir: path.join(apiData, 'bases'), limits })
    expect(stored).toMatchObject({ name: 'tiny', kind: 'layers', inputSize: 16, featureSize: 16, modelDir: expect.stringMatching(/^model-[0-9a-f]{16}$/) })
    await expect(uploadBase(archive, { name: 'tiny' }, { store: api, basesDir: path.join(apiData, 'bases'), limits })).rejects.toMatchObject({ code: 'BASE_EXISTS' })
    expect(await store.list(`bases/uploaded/tiny`)).toEqual(
      expect.arrayContaining([`bases/uploaded/tiny/base.json`, `bases/uploaded/tiny/${stored.modelDir}/model.json`]),
    )

    // A worker elsewhere, its DATA_DIR empty: it fetches the base from a bucket, and reads it in place from a folder store.
    const workerData = await mkdtemp(path.join(tmp, 'worker-'))
    const worker = createBaseStore({ shared: store, local: localBlobStore(workerData) }, path.join(workerData, 'bases'))
    expect((await worker.list()).map((b) => b.name)).toEqual(['tiny'])
    const file = await worker.localModelFile((await worker.get('tiny'))!)
    const home = driver === 's3' ? workerData : fileURLToPath(store.location)
    expect(file).toBe(path.join(home, 'bases', 'uploaded', 'tiny', stored.modelDir, 'model.json'))
    expect(await worker.localModelFile(stored)).toBe(file) // fetched once, then read in place
    const base = await loadBase({ url: file, featureLayer: 'pool', inputSize: 16 }, path.join(workerData, 'bases'))
    expect(base.featureSize).toBe(16)
    base.dispose()

    expect(await api.remove('tiny')).toBe(true)
    expect(await worker.get('tiny')).toBeUndefined()
    expect(await api.remove('tiny')).toBe(false)
    expect(await store.list('bases/uploaded')).toEqual([])
  })

  test('models: listed only with metadata (the marker), files served and loaded as bytes, removal idempotent', async () => {
    const models = createModelStore(store)
    const meta = { id: 'm-1', createdAt: new Date().toISOString(), labels: ['a', 'b'], base: { id: 'tiny', inputSize: 8, preprocessing: 'scale_0_1' as const }, metrics: {} as never, history: [] }
    // Parts of a model whose publication died before its marker: not listed, not loadable.
    await store.put('models/m-0/model.json', '{}')
    await models.save('m-1', { 'model.json': Buffer.from('{"x":1}'), 'weights.bin': Uint8Array.of(1, 2) }, meta)
    expect((await models.list()).map((m) => m.id)).toEqual(['m-1'])
    expect(await models.getMetadata('m-0')).toBeUndefined()
    await expect(models.load('m-0')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
    const files = await models.load('m-1')
    expect(Object.keys(files).sort()).toEqual(['model.json', 'weights.bin'])
    expect(Buffer.from(files['weights.bin']!)).toEqual(Buffer.from([1, 2]))
    const served = await models.openFile('m-1', 'weights.bin')
    expect(served?.size).toBe(2)
    expect(await buffer(served!.body)).toEqual(Buffer.from([1, 2]))
    expect(await models.openFile('m-1', 'metadata.json')).toBeUndefined()
    expect(await models.openFile('m-1', '../x')).toBeUndefined()
    expect((await models.rename('m-1', 'First'))?.name).toBe('First')
    expect((await createModelStore(store).getMetadata('m-1'))?.name).toBe('First')
    expect(await models.rename('m-9', 'None')).toBeUndefined()
    expect(await models.remove('m-1')).toBe(true)
    expect(await models.remove('m-1')).toBe(false)
    expect(await models.list()).toEqual([])
  })

  test('aliases: concurrent moves from two replicas all land; another replica sees a move within its cache time', async () => {
    const one = createAliasStore(store)
    let clock = 0
    const two = createAliasStore(store, { cacheMs: 500, now: () => clock })
    await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? one : two).set(`a${i}`, `model-${i}`)))
    expect(await two.list()).toEqual(Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`a${i}`, `model-${i}`])))
    expect(await two.resolve('a0')).toBe('model-0')
    await one.set('a0', 'model-new')
    expect(await two.resolve('a0')).toBe('model-0') // still within replica two's 500 ms
    clock += 500
    expect(await two.resolve('a0')).toBe('model-new')
    expect(await one.remove('a0')).toBe(true)
    expect(await one.remove('a0')).toBe(false)
    expect(await one.resolve('not-an-alias')).toBe('not-an-alias')
    // Before a model is deleted, every alias naming it goes; others stay.
    await one.set('b1', 'model-doomed')
    await two.set('b2', 'model-doomed')
    expect((await one.removeTargeting('model-doomed')).sort()).toEqual(['b1', 'b2'])
    expect(await one.get('b2')).toBeUndefined()
    expect(await one.get('a1')).toBe('model-1')
    expect(await one.removeTargeting('model-doomed')).toEqual([])
  })

  test('aliases: a pre-store models/aliases.json is moved into per-alias objects', async () => {
    await store.put('models/aliases.json', JSON.stringify({ legacy: 'model-l', a1: 'ignored-older' }))
    const aliases = createAliasStore(store)
    expect(await aliases.get('legacy')).toBe('model-l')
    expect(await aliases.get('a1')).toBe('model-1') // the per-alias object wins
    expect(await store.get('models/aliases.json')).toBeUndefined()
  })

  test('checkpoints and the feature cache round-trip bytes', async () => {
    const checkpoints = createCheckpointStore(store)
    await checkpoints.save('job-1', Uint8Array.of(7, 7))
    expect(Buffer.from((await checkpoints.load('job-1'))!)).toEqual(Buffer.from([7, 7]))
    await checkpoints.saveResult('job-1', { modelId: 'm' })
    expect(await checkpoints.loadResult('job-1')).toEqual({ modelId: 'm' })
    await checkpoints.remove('job-1')
    await checkpoints.remove('job-1')
    expect(await checkpoints.load('job-1')).toBeUndefined()
    const features = createFeatureCache(store)
    const key = 'ab'.repeat(32)
    await features.put('mobilenet_v2', key, Float32Array.of(0.5, -1))
    expect(await features.get('mobilenet_v2', key)).toEqual(Float32Array.of(0.5, -1))
    expect(await features.get('mobilenet_v2', 'cd'.repeat(32))).toBeUndefined()
    expect(await store.list('cache/features')).toEqual([`cache/features/mobilenet_v2/${key}.bin`])
  })

  test("a project other than default has every repository under projects/<id>/, the feature cache included", async () => {
    const stores = { shared: store, local: store }
    const layout = dataLayout(await mkdtemp(path.join(os.tmpdir(), 'imagetune-project-')))
    const repos = repositoriesFor(stores, 'team-a', { layout })
    const key = 'ef'.repeat(32)
    await repos.features.put('mobilenet_v2', key, Float32Array.of(1))
    await repos.checkpoints.save('job-9', Uint8Array.of(9))
    expect(await store.list('projects/team-a')).toEqual([`projects/team-a/cache/features/mobilenet_v2/${key}.bin`, 'projects/team-a/jobs/job-9/checkpoint/head.bin'])
    expect(await repositoriesFor(stores, 'default', { layout }).features.get('mobilenet_v2', key)).toBeUndefined()
    expect(await storedBytes(projectStore(store, 'team-a'))).toBe(5)
  })
})

describe('S3 driver failures', () => {
  test('an unreachable endpoint is STORAGE_UNAVAILABLE naming the cause; only the error\'s cause (for the log) names the endpoint', async () => {
    const store = s3BlobStore(parseStorageUrl('s3://imagetune-test/x?endpoint=http%3A%2F%2F127.0.0.1%3A1&forcePathStyle=true&region=us-east-1'))
    opened.push(store)
    const err = await store.get('k').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect(err).toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    expect(err).toMatchObject({ message: 'the object store is unreachable (ECONNREFUSED)', details: { cause: 'ECONNREFUSED' } })
    expect(((err as AppError).cause as Error).message).toMatch(/127\.0\.0\.1:1 is unreachable \(ECONNREFUSED\) \(s3:\/\/imagetune-test\/x\)/)
    await expect(store.probe()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
  })

  test('refused credentials are STORAGE_UNAVAILABLE saying so', async () => {
    const saved = process.env.AWS_ACCESS_KEY_ID
    process.env.AWS_ACCESS_KEY_ID = 'WRONG'
    try {
      const store = s3BlobStore(parseStorageUrl(s3.storageUrl()))
      opened.push(store)
      const err = await store.put('k', 'v').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
      expect((err as AppError).message).toBe("the object store refused the service's credentials (InvalidAccessKeyId)")
      expect(((err as AppError).cause as Error).message).toMatch(/refused the credentials \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID/)
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved
    }
  })

  test('a missing bucket fails the start-up check, naming the bucket', async () => {
    const store = s3BlobStore(parseStorageUrl(s3.storageUrl().replace('s3://imagetune-test/', 's3://no-such-bucket/')))
    opened.push(store)
    await expect(store.verifyBucket()).rejects.toThrow("STORAGE_URL: bucket 'no-such-bucket' does not exist")
  })
})

test('STORAGE_URL parsing: bucket, prefix and query, with errors that say what is wrong', () => {
  expect(parseStorageUrl('s3://my-bucket/some/prefix/?endpoint=http%3A%2F%2Fminio%3A9000&forcePathStyle=true&region=eu-west-1')).toEqual({
    bucket: 'my-bucket',
    prefix: 'some/prefix',
    endpoint: 'http://minio:9000',
    forcePathStyle: true,
    region: 'eu-west-1',
  })
  expect(parseStorageUrl('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '', forcePathStyle: false })
  expect(() => parseStorageUrl('s3://ab/x')).toThrow(/valid bucket/)
  expect(() => parseStorageUrl('gs://bucket/x')).toThrow(/s3:\/\//)
  expect(() => parseStorageUrl('s3://bucket/x?endpont=http://x')).toThrow(/unknown parameter 'endpont'/)
})
