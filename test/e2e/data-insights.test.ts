/**
 * Data insights through the API and a real worker: a job on a set with labels wrong on purpose and a re-encoded
 * copy across the split reports them in `result.labelIssues` / `nearDuplicates` / `classGuidance` and in the
 * model's metadata, and a revision built from them gives a corrected dataset.
 */
import path from 'node:path'
import sharp from 'sharp'
import { json } from '../helpers/http.js'
import { makeImageFolder, makeZip, type ArchiveFile } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { startTestService, startWorkerProcess, untilJob, type TestService, type WorkerProcess } from '../helpers/service.js'
import { serveTinyBase, type ServedTinyBase } from '../helpers/tiny-base.js'

const SIZE = 32
let service: TestService
let worker: WorkerProcess
let tinyBase: ServedTinyBase | undefined
let baseUrl: string
let datasetId: string

beforeAll(async () => {
  service = await startTestService()
  worker = startWorkerProcess(service.config)
  tinyBase = await serveTinyBase(path.join(service.config.DATA_DIR, 'tiny-base'), { size: SIZE, headUnits: 4 })
  baseUrl = tinyBase.url

  const patterns = { circle: 'red-circle', stripes: 'blue-stripes' } as const
  const train = await makeImageFolder({ circle: 12, stripes: 12 }, { size: 48, prefix: 'train/', patterns })
  const val = (await makeImageFolder({ circle: 4, stripes: 4 }, { size: 48, prefix: 'val/', patterns, seedOffset: 500 })).map((f) => ({ ...f, path: f.path.replace(/\/(\d+)/, '/v$1') }))
  // Stripes filed as circles: the label issues to find.
  const wrong: ArchiveFile[] = [
    { path: 'train/circle/wrong-1.png', data: await makeImage('blue-stripes', { size: 48, seed: 9001 }) },
    { path: 'train/circle/wrong-2.png', data: await makeImage('blue-stripes', { size: 48, seed: 9002 }) },
  ]
  // A training image re-encoded as JPEG into validation: leakage the near-duplicate search must flag.
  const original = train.find((f) => f.path === 'train/circle/003.png')!
  const copy = { path: 'val/circle/copy.jpg', data: await sharp(original.data as Buffer).jpeg({ quality: 70 }).toBuffer() }
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(await makeZip([...train, ...val, ...wrong, copy]))]), 'set.zip')
  const upload = await json(await fetch(`${service.url}/datasets`, { method: 'POST', body: form }))
  expect(upload.status).toBe(201)
  datasetId = upload.body.id
})

afterAll(async () => {
  await tinyBase?.close()
  await worker?.stop()
  await service?.close()
})

test('a job reports wrong labels, near-duplicates and class guidance, in its result and the model; a revision fixes them', async () => {
  const created = await json(
    await fetch(`${service.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, baseModel: { url: baseUrl }, epochs: 5, seed: 3 }) }),
  )
  expect(created.status).toBe(202)
  const done = await untilJob(service.url, created.body.id, 'the training job to finish', { timeoutMs: 120_000 })
  expect(done.error).toBeUndefined()
  const { labelIssues, nearDuplicates, classGuidance, modelId } = done.result

  // Both stripes filed as circles come first, with stripes suggested.
  expect(labelIssues.slice(0, 2).map((i: any) => i.path).sort()).toEqual(['images/circle/wrong-1.png', 'images/circle/wrong-2.png'])
  for (const issue of labelIssues.slice(0, 2)) expect(issue).toMatchObject({ label: 'circle', suggested: 'stripes', confidence: expect.any(Number) })
  expect(labelIssues[0].confidence).toBeGreaterThan(0)

  const leak = nearDuplicates.find((p: any) => [p.a, p.b].sort().join() === 'images/circle/003.png,images/circle/copy.jpg')
  expect(leak).toMatchObject({ crossClass: false, crossSplit: true })
  expect(leak.similarity).toBeGreaterThanOrEqual(0.98)

  expect(classGuidance.learningCurve.map((p: any) => p.fraction)).toEqual([0.25, 0.5, 0.75, 1])
  expect(classGuidance.classes.map((c: any) => [c.label, c.images])).toEqual([
    ['circle', 19],
    ['stripes', 16],
  ])
  expect(classGuidance.confusedPairs[0]).toMatchObject({ a: 'circle', b: 'stripes' })
  expect(classGuidance.confusedPairs[0].aAsB).toBeGreaterThanOrEqual(2)

  const model = await json(await fetch(`${service.url}/models/${modelId}`))
  expect(model.body).toMatchObject({ labelIssues, nearDuplicates, classGuidance })

  // The dashboard's one-click fix: move the issues to their suggested class, drop the leaked copy.
  const revision = await json(
    await fetch(`${service.url}/datasets/${datasetId}/revisions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ move: labelIssues.slice(0, 2).map((i: any) => ({ path: i.path, to: i.suggested })), drop: ['images/circle/copy.jpg'] }),
    }),
  )
  expect(revision.status).toBe(201)
  expect(revision.body.classes).toEqual([
    { name: 'circle', count: 16 },
    { name: 'stripes', count: 18 },
  ])
})
