/**
 * Shared pieces of the hostile suite: uploads over real HTTP, the error assertion, a tiny stored model so a
 * "normal prediction" is cheap, and the after-each-attack check that the service still works.
 */
import { deflateSync, crc32 } from 'node:zlib'
import { DEFAULT_PROJECT_ID } from '../../src/contract/projects.js'
import { repositoriesFor } from '../../src/storage/repositories.js'
import { makeImageFolder, makeZip } from '../helpers/archives.js'
import { makeImage } from '../helpers/images.js'
import { json, type JsonResponse } from '../helpers/http.js'
import type { TestService } from '../helpers/service.js'
import { saveTinyModel, TINY_SIZE } from '../helpers/tiny-model.js'

/** The id of the tiny model {@link storeTinyModel} saves. */
export const TINY_MODEL = 'tiny-model'

/** Asserts the error shape, status and code, and returns the error for further checks. */
export function expectError(response: JsonResponse, status: number, code: string): { code: string; message: string; details?: any } {
  if (response.status !== status || response.body?.error?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${response.status} ${JSON.stringify(response.body)}`)
  }
  expect(typeof response.body.error.message).toBe('string')
  expect(response.body.error.message.length).toBeGreaterThan(0)
  return response.body.error
}

export async function uploadDataset(service: TestService, bytes: Buffer | Uint8Array, filename = 'set.zip', headers: Record<string, string> = {}): Promise<JsonResponse> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), filename)
  return json(await fetch(`${service.url}/datasets`, { method: 'POST', body: form, headers }))
}

export async function predictRaw(service: TestService, model: string, bytes: Buffer | Uint8Array, contentType = 'image/png', headers: Record<string, string> = {}): Promise<JsonResponse> {
  return json(
    await fetch(`${service.url}/predict?model=${encodeURIComponent(model)}`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...headers },
      body: new Uint8Array(bytes),
    }),
  )
}

/** A zip of a valid two-class ImageFolder, small images. */
export async function validZip(counts: Record<string, number> = { cats: 2, dogs: 2 }): Promise<Buffer> {
  return makeZip(await makeImageFolder(counts, { size: TINY_SIZE }))
}

/** The two-label tiny model every hostile test predicts with, stored in the app's own store (the default project's). */
export async function storeTinyModel(service: TestService): Promise<void> {
  const { models } = repositoriesFor(service.app.stores, DEFAULT_PROJECT_ID, { layout: service.app.layout })
  await saveTinyModel(models, TINY_MODEL, ['a', 'b'])
}

/** The service survived: /healthz answers and a normal prediction on the tiny model works. */
export async function expectAlive(service: TestService, headers: Record<string, string> = {}): Promise<void> {
  const health = await json(await fetch(`${service.url}/healthz`))
  expect(health.status).toBe(200)
  const image = await makeImage('red-circle', { size: TINY_SIZE })
  const predicted = await predictRaw(service, TINY_MODEL, image, 'image/png', headers)
  if (predicted.status !== 200) throw new Error(`normal prediction failed: ${predicted.status} ${JSON.stringify(predicted.body)}`)
  expect(predicted.body.predictions).toHaveLength(2)
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/**
 * A decompression bomb in a few hundred bytes: a PNG whose header claims `width × height` greyscale pixels
 * (50000×50000 = 2.5 GB decoded) with a tiny IDAT of the first rows only.
 */
export function pngBomb(width = 50_000, height = 50_000): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 0 // greyscale
  const rows = deflateSync(Buffer.alloc((width + 1) * 4))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', rows),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}
