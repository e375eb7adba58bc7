/**
 * Uploads that stall (a multipart head, then nothing) against the real HTTP server: they are aborted with 408 after
 * UPLOAD_IDLE_TIMEOUT_MS with their slot and temporary file released, one client cannot hold every slot, and another
 * client's normal upload succeeds meanwhile.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import path from 'node:path'
import { hashApiKey } from '../../src/http/plugins/auth.js'
import { dataLayout } from '../../src/storage/layout.js'
import { startTestService, waitFor, type TestService } from '../helpers/service.js'
import { expectError, uploadDataset, validZip } from './support.js'

const IDLE_MS = 1_500
const STALLERS = 6
const KEYS = { staller: `s-${randomUUID()}`, normal: `n-${randomUUID()}` }
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

let service: TestService
let zip: Buffer

beforeAll(async () => {
  service = await startTestService({
    API_KEYS: `${hashApiKey(KEYS.staller)}:train,${hashApiKey(KEYS.normal)}:train`,
    UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS),
    RATE_LIMIT_UPLOADS_PER_MIN: '1000',
  })
  zip = await validZip()
})
afterAll(async () => {
  await service?.close()
})

interface Stalled {
  socket: Socket
  /** What the server sent so far. */
  received(): string
  /** Everything the server sent, once it closed the connection. */
  answer: Promise<string>
}

/**
 * A raw connection that sends the request head, the part head and a few archive bytes, then nothing; by default an
 * archive to POST /datasets, or image files (`add`) to a revision.
 */
function stall(key: string, target = '/datasets', field = 'file'): Stalled {
  const { port } = new URL(service.url)
  const boundary = `b${randomUUID()}`
  const socket = connect(Number(port), '127.0.0.1')
  let text = ''
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
    socket.on('close', () => resolve(text))
    socket.on('error', () => resolve(text))
  })
  const body = Buffer.concat([Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${field}"; filename="stall.zip"\r\ncontent-type: application/zip\r\n\r\n`), zip.subarray(0, 200)])
  socket.write(
    `POST ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${key}\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${zip.length + 1000}\r\n\r\n`,
  )
  socket.write(body)
  return { socket, received: () => text, answer }
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as any

async function uploadsLeft(): Promise<string[]> {
  const dir = dataLayout(service.config.DATA_DIR).uploads
  return existsSync(dir) ? readdir(dir) : []
}

test('stalled uploads hold at most their client\'s share, another client uploads meanwhile, and they end in 408 with nothing left', async () => {
  const started = Date.now()
  const stalled = Array.from({ length: STALLERS }, () => stall(KEYS.staller))
  // All but the client's share are turned away at once, naming the per-client limit.
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 2))
  const turnedAway = stalled.map((s) => s.received()).filter((raw) => statusOf(raw) === 429)
  expect(turnedAway).toHaveLength(STALLERS - service.config.MAX_CONCURRENT_UPLOADS_PER_CLIENT)
  expect(bodyOf(turnedAway[0]!).error).toMatchObject({ code: 'TOO_MANY_UPLOADS', details: { limit: 'MAX_CONCURRENT_UPLOADS_PER_CLIENT' } })
  await waitFor(async () => ((await uploadsLeft()).length === service.config.MAX_CONCURRENT_UPLOADS_PER_CLIENT ? true : undefined), 5_000, 'the held uploads to reach disk')

  // Another client's normal upload goes through while they stall.
  const normal = await uploadDataset(service, zip, 'normal.zip', bearer(KEYS.normal))
  expect(normal.status).toBe(201)

  // The held ones end in 408 after the idle time, with the connection closed and their temporary files gone.
  const held = stalled.filter((s) => s.received() === '')
  expect(held).toHaveLength(service.config.MAX_CONCURRENT_UPLOADS_PER_CLIENT)
  const timedOut = (await Promise.all(held.map((s) => s.answer))).filter((raw) => statusOf(raw) === 408)
  expect(timedOut).toHaveLength(service.config.MAX_CONCURRENT_UPLOADS_PER_CLIENT)
  expectError({ status: 408, headers: new Headers(), body: bodyOf(timedOut[0]!) }, 408, 'REQUEST_TIMEOUT')
  expect(Date.now() - started).toBeLessThan(IDLE_MS + 5_000)
  await waitFor(async () => ((await uploadsLeft()).length === 0 ? true : undefined), 5_000, 'the temporary files to go')

  // Their slots are free again: the same client uploads.
  expect((await uploadDataset(service, zip, 'again.zip', bearer(KEYS.staller))).status).toBe(201)
  for (const s of stalled) s.socket.destroy()
})

test('an upload that keeps sending slowly is not cut off by the idle timeout', async () => {
  const boundary = `b${randomUUID()}`
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="slow.zip"\r\ncontent-type: application/zip\r\n\r\n`),
    zip,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  const chunks = 4
  const step = Math.ceil(body.length / chunks)
  // Each pause is under the idle limit, the whole upload well over it.
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (let i = 0; i < chunks; i++) {
        controller.enqueue(new Uint8Array(body.subarray(i * step, (i + 1) * step)))
        await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 0.6))
      }
      controller.close()
    },
  })
  const response = await fetch(`${service.url}/datasets`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...bearer(KEYS.normal) },
    body: stream,
    duplex: 'half',
  } as RequestInit)
  expect(response.status).toBe(201)
  expect(path.basename((await response.json() as any).name)).toBe('slow')
})

test('a stalled multipart revision (images to add) holds an upload slot like an upload, and ends in 408 with nothing left', async () => {
  const parent = await uploadDataset(service, zip, 'parent.zip', bearer(KEYS.normal))
  expect(parent.status).toBe(201)
  const share = service.config.MAX_CONCURRENT_UPLOADS_PER_CLIENT
  const stalled = Array.from({ length: share }, () => stall(KEYS.staller, `/datasets/${parent.body.id}/revisions`, 'add'))
  await waitFor(async () => ((await uploadsLeft()).length === share ? true : undefined), 5_000, 'the held forms to reach disk')
  // The same slots as archive uploads: this client has none left.
  expectError(await uploadDataset(service, zip, 'more.zip', bearer(KEYS.staller)), 429, 'TOO_MANY_UPLOADS')

  const answers = await Promise.all(stalled.map((s) => s.answer))
  expect(answers.map(statusOf)).toEqual(Array.from({ length: share }, () => 408))
  await waitFor(async () => ((await uploadsLeft()).length === 0 ? true : undefined), 5_000, 'the temporary files to go')
  expect((await uploadDataset(service, zip, 'after.zip', bearer(KEYS.staller))).status).toBe(201)
  for (const s of stalled) s.socket.destroy()
})
