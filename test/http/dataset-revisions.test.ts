import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { expectError, json, uploadDataset, type JsonResponse } from '../hostile/support.js'

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
