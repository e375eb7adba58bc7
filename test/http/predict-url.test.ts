/**
 * GET /predict?url=: the SSRF guard (addresses refused before any connection, DNS resolved once and the checked
 * address used), redirects re-checked per hop, and the content checks of the fetch.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fetchImage, MAX_REDIRECTS } from '../../src/net/fetch-image.js'
import { isForbiddenAddress, parseAllowList, type Resolver } from '../../src/net/ssrf-guard.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { bandsImage, saveTinyModel } from '../helpers/tiny-model.js'

const MODEL = 'tiny-url'
/** A name no real DNS answers, resolved by the test's own resolver to loopback. */
const INTERNAL_NAME = 'images.internal.test'

let service: TestService
let images: Server
let origin: string
let png: Buffer

beforeAll(async () => {
  service = await startTestService()
  await saveTinyModel(service.config.DATA_DIR, MODEL, ['x', 'y'])
  png = await bandsImage(5)
  images = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const hops = Number(url.searchParams.get('hops') ?? 0)
    if (url.pathname === '/redirect') {
      const next = hops > 0 ? `/redirect?hops=${hops - 1}&to=${encodeURIComponent(url.searchParams.get('to') ?? '')}` : (url.searchParams.get('to') || '/image.png')
      res.writeHead(302, { location: next }).end()
    } else if (url.pathname === '/image.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png)
    else if (url.pathname === '/page') res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>')
    else res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve))
  origin = `127.0.0.1:${(images.address() as AddressInfo).port}`
})
afterAll(async () => {
  images?.close()
  await service?.close()
})

async function predictUrl(url: string) {
  const response = await fetch(`${service.url}/predict?model=${MODEL}&url=${encodeURIComponent(url)}`)
  return { status: response.status, body: (await response.json()) as any }
}

test('address rules: loopback, private, link-local, CGNAT, ULA, mapped and unspecified are forbidden', () => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:8.8.8.8', 'not-an-ip']) {
    expect([ip, isForbiddenAddress(ip)]).toEqual([ip, true])
  }
  // Private IPv4 carried inside IPv6: compatible, 6to4, Teredo (server, and client stored inverted), NAT64.
  for (const ip of ['::127.0.0.1', '::a00:1', '2002:7f00:1::', '2002:c0a8:101::1', '2002:a9fe:a9fe::', '2001:0:7f00:1::', '2001:0:808:808::80ff:fffe', '64:ff9b::a00:1', '64:ff9b:1::a00:1']) {
    expect([ip, isForbiddenAddress(ip)]).toEqual([ip, true])
  }
  for (const ip of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700:4700::1111', '2002:808:808::1', '2001:0:808:808::f7f7:f7f7', '2001:db8::1']) {
    expect([ip, isForbiddenAddress(ip)]).toEqual([ip, false])
  }
  expect([...parseAllowList(' Images.Example.com, ,cdn.test ')]).toEqual(['images.example.com', 'cdn.test'])
})

test('loopback, private, metadata and names resolving to loopback are refused with 403 URL_FORBIDDEN', async () => {
  const port = origin.split(':')[1]
  for (const url of [
    `http://${origin}/image.png`,
    `http://localhost:${port}/image.png`, // resolves through /etc/hosts to 127.0.0.1
    `http://[::1]:${port}/image.png`,
    `http://[::ffff:127.0.0.1]:${port}/image.png`,
    `http://[2002:7f00:1::]:${port}/image.png`, // 6to4 of 127.0.0.1
    `http://[2001:0:a9fe:a9fe::]:${port}/image.png`, // Teredo server 169.254.169.254
    `http://0.0.0.0:${port}/image.png`,
    'http://10.0.0.1/image.png',
    'http://169.254.169.254/latest/meta-data/',
    'https://192.168.0.10/image.png',
  ]) {
    const answer = await predictUrl(url)
    expect([url, answer.status, answer.body.error.code]).toEqual([url, 403, 'URL_FORBIDDEN'])
  }
  for (const url of ['file:///etc/passwd', 'ftp://example.com/x.png', 'not a url']) {
    const answer = await predictUrl(url)
    expect([url, answer.status, answer.body.error.code]).toEqual([url, 400, 'VALIDATION'])
  }
})

describe('fetchImage with an injected resolver', () => {
  const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }]
  const allowed = (resolve: Resolver = toLoopback) => ({ allowHosts: new Set([INTERNAL_NAME]), resolve, maxBytes: 100_000 })
  const internal = () => `http://${INTERNAL_NAME}:${origin.split(':')[1]}`

  test('a name that resolves to loopback is refused unless allow-listed; then the checked address is the one used', async () => {
    await expect(fetchImage(`${internal()}/image.png`, { ...allowed(), allowHosts: new Set() })).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
    // No real DNS knows this name: the bytes can only come through the address our resolver returned.
    expect(Buffer.from(await fetchImage(`${internal()}/image.png`, allowed()))).toEqual(png)
    // A name with one public and one private address is refused: the connection could pick either.
    const mixed: Resolver = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }]
    await expect(fetchImage('http://mixed.test/image.png', { allowHosts: new Set(), resolve: mixed, maxBytes: 1000 })).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
  })

  test('every redirect hop is checked, and at most MAX_REDIRECTS are followed', async () => {
    expect(Buffer.from(await fetchImage(`${internal()}/redirect?hops=${MAX_REDIRECTS - 1}`, allowed()))).toEqual(png)
    await expect(fetchImage(`${internal()}/redirect?hops=${MAX_REDIRECTS}`, allowed())).rejects.toMatchObject({ code: 'IMAGE_FETCH_FAILED' })
    // From an allowed host to loopback by address: the second hop is not allowed.
    const toLocal = `${internal()}/redirect?to=${encodeURIComponent(`http://${origin}/image.png`)}`
    await expect(fetchImage(toLocal, allowed())).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
    await expect(fetchImage(`${internal()}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, allowed())).rejects.toMatchObject({ code: 'VALIDATION' })
  })

  test('content type, size cap and HTTP status are checked', async () => {
    await expect(fetchImage(`${internal()}/page`, allowed())).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' })
    await expect(fetchImage(`${internal()}/image.png`, { ...allowed(), maxBytes: 100 })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
    await expect(fetchImage(`${internal()}/missing`, allowed())).rejects.toMatchObject({ code: 'IMAGE_FETCH_FAILED' })
    const nowhere: Resolver = async () => {
      throw new Error('ENOTFOUND')
    }
    await expect(fetchImage('http://nowhere.test/x.png', allowed(nowhere))).rejects.toMatchObject({ code: 'IMAGE_FETCH_FAILED' })
  })
})

test('an allow-listed host is served end to end', async () => {
  const allowing = await startTestService({ PREDICT_URL_ALLOWLIST: 'localhost' })
  try {
    await saveTinyModel(allowing.config.DATA_DIR, MODEL, ['x', 'y'])
    const port = origin.split(':')[1]
    const ok = await fetch(`${allowing.url}/predict?model=${MODEL}&url=${encodeURIComponent(`http://localhost:${port}/image.png`)}`)
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as any).predictions).toHaveLength(2)
    // The allow-list names hosts: the same server by address is still refused.
    const byIp = await fetch(`${allowing.url}/predict?model=${MODEL}&url=${encodeURIComponent(`http://${origin}/image.png`)}`)
    expect(byIp.status).toBe(403)
    await byIp.body?.cancel()
  } finally {
    await allowing.close()
  }
})
