/**
 * Every content parser fed malformed bodies from a seeded generator: dataset upload (multipart), predict (raw image,
 * multipart, JSON) and jobs (JSON). None may answer 5xx; every error has the `{error: {code, message}}` shape. The
 * seed and count are fixed, so a failure names a body that can be replayed.
 */
import { makeImage } from '../helpers/images.js'
import { seededRandom } from '../../src/ml/random.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { json } from '../helpers/http.js'
import { expectAlive, storeTinyModel, TINY_MODEL, validZip } from './support.js'

const SEED = 0x13f022
/** Bodies per parser; the whole file stays well under a minute. */
const CASES = 40

let service: TestService
let zip: Buffer
let png: Buffer

beforeAll(async () => {
  service = await startTestService({ RATE_LIMIT_UPLOADS_PER_MIN: '10000', MAX_JSON_BYTES: '4096' })
  await storeTinyModel(service)
  zip = await validZip()
  png = await makeImage('red-circle', { size: 32 })
})
afterAll(async () => {
  await service?.close()
})

/** The project's seeded PRNG, with helpers to pick mutations. */
function generator(seed: number) {
  const next = seededRandom(seed)
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)))
  return { int, pick, bytes }
}
type Gen = ReturnType<typeof generator>

/** One random damage to `body`: flip, cut, insert noise or a line break, duplicate a slice, or empty it. */
function mutate(gen: Gen, body: Buffer): Buffer {
  const at = gen.int(body.length + 1)
  switch (gen.int(7)) {
    case 0: {
      const copy = Buffer.from(body)
      for (let i = 0; i < 1 + gen.int(8); i++) if (copy.length) copy[gen.int(copy.length)] = gen.int(256)
      return copy
    }
    case 1:
      return body.subarray(0, at)
    case 2:
      return Buffer.concat([body.subarray(0, at), gen.bytes(1 + gen.int(64)), body.subarray(at)])
    case 3:
      return Buffer.concat([body.subarray(0, at), Buffer.from(gen.pick(['\r\n', '\r\n\r\n', '--', '"', '\0', ';'])), body.subarray(at)])
    case 4:
      return Buffer.concat([body.subarray(0, at), body.subarray(gen.int(body.length), at), body.subarray(at)])
    case 5:
      return gen.bytes(gen.int(512))
    default:
      return Buffer.alloc(0)
  }
}

function multipart(boundary: string, parts: { name: string; filename?: string; type?: string; body: Buffer }[]): Buffer {
  const chunks: Buffer[] = []
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ''}\r\n`), part.body, Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return Buffer.concat(chunks)
}

/** Content types a multipart parser meets: good, without boundary, empty, quoted, odd parameters. */
function multipartType(gen: Gen, boundary: string): string {
  return gen.pick([
    `multipart/form-data; boundary=${boundary}`,
    `multipart/form-data; boundary=${boundary}`,
    'multipart/form-data',
    'multipart/form-data;',
    'multipart/form-data; boundary=',
    'multipart/form-data; boundary=""',
    `multipart/form-data; boundary="${boundary}"`,
    `multipart/form-data; boundary=${boundary}; charset=x-unknown`,
    `multipart/form-data; boundary=${'b'.repeat(200)}`,
    'multipart/mixed; boundary=x',
    'multipart/form-data; =; ;;boundary',
  ])
}

interface Sent {
  path: string
  contentType: string
  body: Buffer
}

async function send({ path, contentType, body }: Sent) {
  const response = await json(await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(body) }))
  return response
}

/** Sends every case and fails with the ones that got a 5xx or an error without a code. */
async function expectNo5xx(cases: Sent[]) {
  const bad: string[] = []
  for (const sent of cases) {
    const response = await send(sent)
    const shaped = response.status < 400 || (typeof response.body?.error?.code === 'string' && typeof response.body.error.message === 'string')
    if (response.status >= 500 || !shaped) {
      bad.push(`${response.status} ${JSON.stringify(response.body).slice(0, 120)} ← ${sent.path} ${sent.contentType} ${sent.body.subarray(0, 80).toString('latin1')}`)
    }
  }
  expect(bad).toEqual([])
  await expectAlive(service)
}

test('a multipart upload without a boundary is 400 MULTIPART_INVALID', async () => {
  const response = await send({ path: '/datasets', contentType: 'multipart/form-data', body: multipart('x', [{ name: 'file', filename: 'a.zip', body: zip }]) })
  expect(response.status).toBe(400)
  expect(response.body.error.code).toBe('MULTIPART_INVALID')
})

test('dataset upload: malformed multipart bodies and headers are never 5xx', async () => {
  const gen = generator(SEED)
  const boundary = 'fuzzBoundary13'
  const valid = multipart(boundary, [{ name: 'name', body: Buffer.from('fuzz') }, { name: 'file', filename: 'set.zip', type: 'application/zip', body: zip }])
  await expectNo5xx(Array.from({ length: CASES }, () => ({ path: '/datasets', contentType: multipartType(gen, boundary), body: mutate(gen, valid) })))
}, 60_000)

test('base and revision uploads: malformed multipart bodies are never 5xx', async () => {
  const gen = generator(SEED + 3)
  const boundary = 'fuzzBases13'
  const base = multipart(boundary, [{ name: 'name', body: Buffer.from('fuzzed') }, { name: 'file', filename: 'base.zip', type: 'application/zip', body: zip }])
  const revision = multipart(boundary, [{ name: 'to', body: Buffer.from('new-class') }, { name: 'add', filename: 'a.png', type: 'image/png', body: png }])
  // A dataset that exists, so the revision form is parsed rather than refused by id.
  const created = await send({ path: '/datasets', contentType: `multipart/form-data; boundary=${boundary}`, body: multipart(boundary, [{ name: 'file', filename: 'set.zip', type: 'application/zip', body: zip }]) })
  expect(created.status).toBe(201)
  const cases: Sent[] = []
  for (let i = 0; i < CASES / 2; i++) {
    cases.push({ path: '/bases', contentType: multipartType(gen, boundary), body: mutate(gen, base) })
    cases.push({ path: `/datasets/${created.body.id}/revisions`, contentType: multipartType(gen, boundary), body: mutate(gen, revision) })
  }
  await expectNo5xx(cases)
}, 60_000)

test('predict: malformed raw images, multipart and JSON bodies are never 5xx', async () => {
  const gen = generator(SEED + 1)
  const boundary = 'fuzzPredict13'
  const path = `/predict?model=${TINY_MODEL}`
  const validMultipart = multipart(boundary, [{ name: 'image', filename: 'a.png', type: 'image/png', body: png }, { name: 'image', filename: 'b.png', type: 'image/png', body: png }])
  const validJson = Buffer.from(JSON.stringify({ images: [png.toString('base64')] }))
  const cases: Sent[] = []
  for (let i = 0; i < CASES; i++) {
    cases.push({ path, contentType: gen.pick(['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/x-unknown']), body: mutate(gen, png) })
    cases.push({ path, contentType: multipartType(gen, boundary), body: mutate(gen, validMultipart) })
    cases.push({ path, contentType: gen.pick(['application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1']), body: mutate(gen, validJson) })
  }
  await expectNo5xx(cases)
}, 60_000)

test('jobs: malformed JSON bodies are never 5xx', async () => {
  const gen = generator(SEED + 2)
  const valid = Buffer.from(JSON.stringify({ datasetId: '00000000-0000-4000-8000-000000000000', epochs: 2, augment: { flip: true, views: 1 }, earlyStopping: { patience: 2 }, classWeights: { a: 1 } }))
  const nested = Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`)
  const cases: Sent[] = Array.from({ length: CASES }, () => ({ path: '/jobs', contentType: 'application/json', body: mutate(gen, gen.int(8) ? valid : nested) }))
  await expectNo5xx(cases)
}, 60_000)
