import type { IncomingMessage } from 'node:http'
import { AppError } from '../errors.js'
import { pinnedRequest } from './pinned-request.js'
import type { AddressCheck } from './ssrf-guard.js'

const FETCH_TIMEOUT_MS = 10_000
/** Redirects followed per fetch; each hop is checked like the first URL. */
export const MAX_REDIRECTS = 3

export interface FetchImageOptions extends AddressCheck {
  /** Largest body read, bytes. */
  maxBytes: number
  /** Whole fetch, redirects included, ms. @defaultValue 10000 */
  timeoutMs?: number
}

/** What a fetch accepts: its Accept header, the content types it reads, and what the body is called in errors. */
interface Expected {
  accept: string
  contentType?: (type: string) => boolean
  what: string
}

const IMAGE: Expected = { accept: 'image/*', contentType: (type) => type.startsWith('image/'), what: 'image' }

/**
 * Fetches an image for `GET /predict?url=`: http(s) only; every hop's host resolved once, checked against the SSRF
 * rules (`ssrf-guard.ts`) and connected to at exactly that address; at most `MAX_REDIRECTS` redirects; a time
 * limit; an `image/*` content type; the body read with a byte cap so a huge or endless response cannot fill memory.
 * @throws AppError VALIDATION, URL_FORBIDDEN, IMAGE_FETCH_FAILED, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE
 */
export function fetchImage(url: string, opts: FetchImageOptions): Promise<Uint8Array> {
  return fetchChecked(url, opts, IMAGE)
}

/**
 * Fetches any body the way `fetchImage` fetches an image (http(s) only, every hop's host resolved once, checked and
 * connected to at that address, `MAX_REDIRECTS`, a time limit, a byte cap), whatever its content type: for a
 * model's files, which servers label as they please.
 * @throws AppError VALIDATION, URL_FORBIDDEN, IMAGE_FETCH_FAILED, PAYLOAD_TOO_LARGE
 */
export function fetchBytes(url: string, opts: FetchImageOptions): Promise<Uint8Array> {
  return fetchChecked(url, opts, { accept: '*/*', what: 'response' })
}

async function fetchChecked(url: string, opts: FetchImageOptions, expected: Expected): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? FETCH_TIMEOUT_MS)
  let target = parseUrl(url)
  for (let hop = 0; ; hop++) {
    const response = await get(target, opts, expected.accept, signal)
    const status = response.statusCode ?? 0
    if (status >= 300 && status < 400 && response.headers.location !== undefined) {
      response.destroy()
      if (hop >= MAX_REDIRECTS) throw new AppError('IMAGE_FETCH_FAILED', `${url} redirects more than ${MAX_REDIRECTS} times`)
      target = parseUrl(new URL(response.headers.location, target).href)
      continue
    }
    return readBody(response, target.href, opts.maxBytes, expected, signal)
  }
}

function parseUrl(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new AppError('VALIDATION', `not a URL: ${url}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new AppError('VALIDATION', `only http and https image URLs are fetched, not ${parsed.protocol}`)
  }
  return parsed
}

async function get(url: URL, check: AddressCheck, accept: string, signal: AbortSignal): Promise<IncomingMessage> {
  try {
    return await pinnedRequest(url, check, { method: 'GET', signal, headers: { accept } })
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('IMAGE_FETCH_FAILED', `could not fetch ${url.href}: ${signal.aborted ? 'timed out' : (err as Error).message}`)
  }
}

async function readBody(response: IncomingMessage, url: string, maxBytes: number, expected: Expected, signal: AbortSignal): Promise<Uint8Array> {
  const status = response.statusCode ?? 0
  if (status < 200 || status >= 300) {
    response.destroy()
    throw new AppError('IMAGE_FETCH_FAILED', `fetching ${url} answered HTTP ${status}`)
  }
  const type = response.headers['content-type'] ?? ''
  if (expected.contentType && !expected.contentType(type)) {
    response.destroy()
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${url} is ${type || 'of no content type'}, not an image`)
  }
  const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `${expected.what} at ${url} exceeds ${maxBytes} bytes`, { limit: maxBytes })
  if (Number(response.headers['content-length'] ?? 0) > maxBytes) {
    response.destroy()
    throw tooLarge()
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.byteLength
      if (size > maxBytes) throw tooLarge()
      chunks.push(chunk)
    }
  } catch (err) {
    response.destroy()
    if (err instanceof AppError) throw err
    throw new AppError('IMAGE_FETCH_FAILED', `reading ${url} failed: ${signal.aborted ? 'timed out' : (err as Error).message}`)
  }
  return Buffer.concat(chunks)
}
