import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { checkedAddress, type AddressCheck } from './ssrf-guard.js'

/**
 * A socket lookup that answers the address already checked, so the connection goes exactly there: a second DNS
 * lookup (what `fetch` would do) could be answered differently by a rebinding attacker. The URL's host still names
 * the server (Host header, TLS SNI).
 */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }])
    else callback(null, address, family)
  }
}

export interface PinnedRequest {
  method: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignal
}

/**
 * One HTTP(S) request to `url`, its host resolved once, checked against the SSRF rules (`ssrf-guard.ts`) and
 * connected to at that address. Redirects are not followed. Resolves with the response (its body unread).
 * @throws AppError URL_FORBIDDEN, IMAGE_FETCH_FAILED (the name does not resolve); network errors as they are
 */
export async function pinnedRequest(url: URL, check: AddressCheck, opts: PinnedRequest): Promise<IncomingMessage> {
  const { address, family } = await checkedAddress(url.hostname, check)
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = client.request(url, { method: opts.method, lookup: pinnedLookup(address, family), headers: opts.headers, ...(opts.signal && { signal: opts.signal }) }, resolve)
    request.on('error', reject)
    request.end(opts.body)
  })
}
