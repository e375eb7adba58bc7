import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { startTestS3, type TestS3 } from '../helpers/s3.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { json, type JsonResponse } from '../helpers/http.js'
import { expectError, uploadDataset } from '../hostile/support.js'

let service: TestService
let parent: { id: string; classes: { name: string; count: number }[] }

beforeAll(async () => {
  service = await startTestService()
  const upload = await uploadDataset(service, await makeZip(await makeImageFolder({ cats: 3, dogs: 3 }, { size: 32 })))
  expect(upload.status).toBe(201)
  parent = upload.body
})

afterAll(async () => {
  await service.close()
})

async function revise(id: string, body: unknown): Promise<JsonResponse> {
  return json(await fetch(`${service.url}/datasets/${id}/revisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
}

async function imageBytes(id: string, imagePath: string): Promise<{ status: number; bytes: Buffer }> {
  const response = await fetch(`${service.url}/datasets/${id}/${imagePath}`)
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) }
}

describe('POST /datasets/:id/revisions', () => {
  it('creates a new dataset with images moved and dropped, and leaves the parent as it was', async () => {
    const before = await imageBytes(parent.id, 'images/cats/000.png')
    expect(before.status).toBe(200)
    const created = await revise(parent.id, {
      move: [{ path: 'images/cats/000.png', to: 'dogs' }, { path: 'images/cats/001.png', to: 'birds' }],
      drop: ['images/dogs/002.png'],
      name: 'pets v2',
    })
    expect(created.status).toBe(201)
    const revision = created.body
    expect(revision.id).not.toBe(parent.id)
    expect(created.headers.get('location')).toBe(`/datasets/${revision.id}`)
    expect(revision).toMatchObject({ name: 'pets v2', parentId: parent.id, imageCount: 5, rejected: [] })
    expect(revision.classes).toEqual([
      { name: 'birds', count: 1 },
      { name: 'cats', count: 1 },
      { name: 'dogs', count: 3 },
    ])
    // The moved image's bytes, now under its new class (renamed: dogs/ holds a 000.png already).
    const moved = await imageBytes(revision.id, 'images/dogs/000-1.png')
    expect(moved.status).toBe(200)
    expect(moved.bytes.equals(before.bytes)).toBe(true)
    expect((await imageBytes(revision.id, 'images/dogs/002.png')).status).toBe(404)

    const unchanged = await json(await fetch(`${service.url}/datasets/${parent.id}`))
    expect(unchanged.body.classes).toEqual(parent.classes)
    expect(unchanged.body.parentId).toBeUndefined()
    expect((await imageBytes(parent.id, 'images/dogs/002.png')).status).toBe(200)

    // A revision of a revision chains by parentId.
    const second = await revise(revision.id, { move: [{ path: 'images/dogs/001.png', to: 'birds' }] })
    expect(second.status).toBe(201)
    expect(second.body).toMatchObject({ parentId: revision.id, name: 'pets v2 (revised)', imageCount: 5 })
  })

  it('keeps its images when the parent is deleted', async () => {
    const source = await uploadDataset(service, await makeZip(await makeImageFolder({ a: 2, b: 2 }, { size: 32 })))
    const revision = await revise(source.body.id, { drop: ['images/a/000.png'] })
    expect(revision.status).toBe(201)
    expect((await fetch(`${service.url}/datasets/${source.body.id}`, { method: 'DELETE' })).status).toBe(204)
    expect((await imageBytes(revision.body.id, 'images/a/001.png')).status).toBe(200)
    expect((await imageBytes(revision.body.id, 'images/b/000.png')).status).toBe(200)
  })

  it('answers bad revisions with 4xx codes and the problems', async () => {
    expectError(await revise('0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e6f', { drop: ['images/cats/000.png'] }), 404, 'DATASET_NOT_FOUND')
    expect(expectError(await revise(parent.id, {}), 422, 'REVISION_INVALID').details).toEqual({ problems: [] })
    expect(expectError(await revise(parent.id, { drop: ['images/cats/nope.png'] }), 422, 'REVISION_INVALID').details).toEqual({
      problems: ["unknown path 'images/cats/nope.png'"],
    })
    const emptied = expectError(await revise(parent.id, { drop: ['images/cats/000.png', 'images/cats/001.png', 'images/cats/002.png'] }), 422, 'REVISION_INVALID')
    expect(emptied.details.problems).toContain("class 'cats' would be left with no image")
    expectError(await revise(parent.id, { move: [{ path: 'images/cats/000.png', to: 'cats' }] }), 422, 'REVISION_INVALID')
    expectError(await revise(parent.id, { move: [{ path: 'images/cats/000.png' }] }), 400, 'VALIDATION')
    expectError(await revise(parent.id, { drop: ['images/cats/000.png'], extra: 1 }), 400, 'VALIDATION')
    // Nothing was stored by the refused revisions.
    const listed = await json(await fetch(`${service.url}/datasets`))
    expect(listed.body.datasets.filter((d: { parentId?: string }) => d.parentId === parent.id)).toHaveLength(1)
  })
})

describe.each(['local folder', 'S3'])('POST /datasets/:id/revisions, multipart `add` (%s storage)', (driver) => {
  let s3: TestS3 | undefined
  let svc: TestService
  let source: { id: string; classes: { name: string; count: number }[] }

  beforeAll(async () => {
    if (driver === 'S3') s3 = await startTestS3()
    svc = await startTestService(s3 ? { STORAGE_URL: s3.storageUrl() } : {})
    const upload = await uploadDataset(svc, await makeZip(await makeImageFolder({ cats: 2, dogs: 2 }, { size: 32 })))
    expect(upload.status).toBe(201)
    source = upload.body
  })

  afterAll(async () => {
    await svc.close()
    await s3?.close()
  })

  function addForm(to: string | undefined, files: { name: string; bytes: Buffer }[], extra: Record<string, string> = {}): FormData {
    const form = new FormData()
    if (to !== undefined) form.append('to', to)
    for (const [key, value] of Object.entries(extra)) form.append(key, value)
    for (const { name, bytes } of files) form.append('add', new Blob([new Uint8Array(bytes)]), name)
    return form
  }

  async function postForm(id: string, form: FormData): Promise<JsonResponse> {
    return json(await fetch(`${svc.url}/datasets/${id}/revisions`, { method: 'POST', body: form }))
  }

  async function bytesOf(id: string, imagePath: string): Promise<{ status: number; bytes: Buffer }> {
    const response = await fetch(`${svc.url}/datasets/${id}/${imagePath}`)
    return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) }
  }

  it('adds valid images to an existing class and to a new one, lists a corrupt file with its reason, leaves the parent as it was', async () => {
    const png = await makeImage('red-circle', { size: 32, seed: 7 })
    const jpeg = await makeImage('blue-stripes', { size: 32, seed: 8, format: 'jpeg' })
    const corrupt = png.subarray(0, 60)

    const toCats = await postForm(source.id, addForm('cats', [{ name: 'new.png', bytes: png }, { name: '000.png', bytes: jpeg }, { name: 'broken.png', bytes: corrupt }]))
    expect(toCats.status).toBe(201)
    expect(toCats.body).toMatchObject({ parentId: source.id, imageCount: 6 })
    expect(toCats.body.classes).toEqual([
      { name: 'cats', count: 4 },
      { name: 'dogs', count: 2 },
    ])
    expect(toCats.body.rejected).toEqual([{ path: 'broken.png', reason: expect.stringMatching(/corrupt or truncated image/) }])
    const added = await bytesOf(toCats.body.id, 'images/cats/new.png')
    expect(added.status).toBe(200)
    expect(added.bytes.equals(png)).toBe(true)
    // cats/ holds a 000.png already: the added one is renamed, the parent's kept.
    expect((await bytesOf(toCats.body.id, 'images/cats/000-1.png')).bytes.equals(jpeg)).toBe(true)
    expect((await bytesOf(toCats.body.id, 'images/cats/000.png')).status).toBe(200)

    // A new class, with a drop in the same revision and a name.
    const toBirds = await postForm(
      source.id,
      addForm('birds', [{ name: 'bird.png', bytes: png }], { drop: JSON.stringify(['images/dogs/000.png']), name: 'with birds' }),
    )
    expect(toBirds.status).toBe(201)
    expect(toBirds.body).toMatchObject({ name: 'with birds', parentId: source.id, imageCount: 4, rejected: [] })
    expect(toBirds.body.classes).toEqual([
      { name: 'birds', count: 1 },
      { name: 'cats', count: 2 },
      { name: 'dogs', count: 1 },
    ])

    const parentNow = await json(await fetch(`${svc.url}/datasets/${source.id}`))
    expect(parentNow.body.classes).toEqual(source.classes)
    expect(parentNow.body.imageCount).toBe(4)
    expect((await bytesOf(source.id, 'images/cats/new.png')).status).toBe(404)
  })

  it('puts images added to a dataset with train/ and val/ folders in train, so val stays as the parent measured it', async () => {
    const train = await makeImageFolder({ cats: 2, dogs: 2 }, { size: 32, prefix: 'train/' })
    const val = await makeImageFolder({ cats: 1, dogs: 1 }, { size: 32, prefix: 'val/', seedOffset: 50 })
    const split = await uploadDataset(svc, await makeZip([...train, ...val]))
    expect(split.body.hasSplit).toBe(true)
    const created = await postForm(split.body.id, addForm('dogs', [{ name: 'fresh.png', bytes: await makeImage('blue-stripes', { size: 32, seed: 3 }) }]))
    expect(created.status).toBe(201)
    const page = await json(await fetch(`${svc.url}/datasets/${created.body.id}/images?class=dogs`))
    expect(page.body.items.find((item: { path: string }) => item.path === 'images/dogs/fresh.png')).toMatchObject({ label: 'dogs', split: 'train' })
  })

  it('answers bad forms with 4xx codes and stores nothing', async () => {
    const png = await makeImage('red-circle', { size: 32, seed: 9 })
    const allBad = expectError(await postForm(source.id, addForm('cats', [{ name: 'a.png', bytes: Buffer.from('not an image') }])), 422, 'REVISION_INVALID')
    expect(allBad.details.rejected).toEqual([{ path: 'a.png', reason: 'not an image (unrecognised content)' }])
    expectError(await postForm(source.id, addForm('cats', [])), 400, 'VALIDATION')
    expectError(await postForm(source.id, addForm(undefined, [{ name: 'a.png', bytes: png }])), 400, 'VALIDATION')
    expectError(await postForm(source.id, addForm('cats', [{ name: 'a.png', bytes: png }], { drop: 'not json' })), 400, 'VALIDATION')
    expectError(await postForm(source.id, addForm('cats', [{ name: 'a.png', bytes: png }], { drop: '[1]' })), 400, 'VALIDATION')
    expectError(await postForm(source.id, addForm('cats', [{ name: 'a.png', bytes: png }], { colour: 'red' })), 400, 'VALIDATION')
    const wrongField = new FormData()
    wrongField.append('to', 'cats')
    wrongField.append('file', new Blob([new Uint8Array(png)]), 'a.png')
    expectError(await postForm(source.id, wrongField), 400, 'VALIDATION')
    expectError(await postForm(source.id, addForm('.hidden', [{ name: 'a.png', bytes: png }])), 422, 'REVISION_INVALID')
    expectError(await postForm(source.id, addForm('CATS', [{ name: 'a.png', bytes: png }])), 422, 'REVISION_INVALID')
    expectError(await postForm('0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e6f', addForm('cats', [{ name: 'a.png', bytes: png }])), 404, 'DATASET_NOT_FOUND')
    // Only the two revisions of the test above.
    const listed = await json(await fetch(`${svc.url}/datasets`))
    expect(listed.body.datasets.filter((d: { parentId?: string }) => d.parentId === source.id)).toHaveLength(2)
  })
})
