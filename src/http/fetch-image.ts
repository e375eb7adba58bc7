import { AppError } from '../errors.js'

const FETCH_TIMEOUT_MS = 10_000

/**
 * Fetches an image for `GET /predict?url=`: http(s) only, a time limit, and the body read with a byte cap so a
 * huge or endless response cannot fill memory.
 */
export async function fetchImage(url: string, maxBytes: number): Promise<Uint8Array> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new AppError('VALIDATION', `not a URL: ${url}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new AppError('VALIDATION', `only http and https image URLs are fetched, not ${parsed.protocol}`)
  }
  let response: Response
  try {
    response = await fetch(parsed, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'follow' })
  } catch (err) {
    throw new AppError('IMAGE_FETCH_FAILED', `could not fetch ${url}: ${(err as Error).message}`)
  }
  if (!response.ok || !response.body) {
    throw new AppError('IMAGE_FETCH_FAILED', `fetching ${url} answered HTTP ${response.status}`)
  }
  const type = response.headers.get('content-type') ?? ''
  if (!type.startsWith('image/')) {
    await response.body.cancel()
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${url} is ${type || 'of no content type'}, not an image`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body) {
    size += chunk.byteLength
    if (size > maxBytes) {
      await response.body.cancel().catch(() => undefined)
      throw new AppError('PAYLOAD_TOO_LARGE', `image at ${url} exceeds ${maxBytes} bytes`, { limit: maxBytes })
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
