import type { IncomingMessage } from 'node:http'
import { AppError } from '../errors.js'

/**
 * Rejects with 408 `REQUEST_TIMEOUT` once the request's connection has been idle (no byte in or out) for `idleMs`.
 * Listening on the request's `timeout` event keeps Node from destroying the socket, so the 408 can still be sent;
 * `stop` (once the body is in, and again at the end: it may be called twice) restores the connection's own timeout
 * (keep-alive reuses it for the next request).
 */
export function idleTimeout(raw: IncomingMessage, idleMs: number): { timedOut: Promise<never>; stop(): void } {
  const socket = raw.socket
  const previous = socket.timeout ?? 0
  let onTimeout: () => void = () => undefined
  const timedOut = new Promise<never>((_resolve, reject) => {
    onTimeout = () => reject(new AppError('REQUEST_TIMEOUT', `no bytes received for ${idleMs} ms; the upload was aborted`, { limit: 'UPLOAD_IDLE_TIMEOUT_MS', max: idleMs }))
  })
  timedOut.catch(() => undefined) // raced by the caller; unobserved once the work wins
  raw.setTimeout(idleMs, onTimeout)
  return {
    timedOut,
    stop() {
      raw.off('timeout', onTimeout)
      socket.setTimeout(previous)
    },
  }
}
