import type { Redis } from 'ioredis'
import type { AuditEvent } from '../contract/projects.js'
import { AppError, causeCode } from '../errors.js'
import type { LogSink } from '../logger.js'

/** A cursor is a Redis stream id. */
export const EVENT_CURSOR_PATTERN = '^[0-9]{1,20}-[0-9]{1,20}$'

export interface ProjectEvents {
  /** Appends one event (fire and forget: an audit write must not fail the request it records). */
  append(projectId: string, event: Omit<AuditEvent, 'id' | 'at'>): void
  /** Newest first, `limit` at most, older than `cursor`; `nextCursor` null on the last page. */
  page(projectId: string, query: { cursor?: string | undefined; limit: number }): Promise<{ events: AuditEvent[]; nextCursor: string | null }>
  /** Forgets a deleted project's events. */
  drop(projectId: string): Promise<void>
  /** Waits for the appends in flight (before the connection closes). */
  flush(): Promise<void>
}

/** The largest part of a stream id Redis accepts (64 bits unsigned). */
const MAX_ID_PART = 2n ** 64n - 1n

/**
 * Whether a cursor (already matching EVENT_CURSOR_PATTERN) lies before every event: `0-0`, below which there is
 * nothing. A part past 64 bits is not a cursor this API gave: 400, not the store's error.
 */
function beforeEveryEvent(cursor: string): boolean {
  const [ms = 0n, seq = 0n] = cursor.split('-').map(BigInt)
  if (ms > MAX_ID_PART || seq > MAX_ID_PART) throw new AppError('VALIDATION', `cursor ${cursor} is not one this API gave: pass the nextCursor of the previous page`)
  return ms === 0n && seq === 0n
}

const FIELDS = ['method', 'route', 'path', 'principal', 'status', 'code', 'requestId'] as const

/**
 * Each project's audit trail as a Redis stream (`<prefix>:projects:<id>:events`), trimmed to about `kept` entries;
 * stream ids are the cursors, so new events never shift a page.
 */
export function createProjectEvents(opts: { redis: Redis; prefix: string; kept: number; log: LogSink }): ProjectEvents {
  const { redis, log } = opts
  const key = (projectId: string) => `${opts.prefix}:projects:${projectId}:events`
  const inFlight = new Set<Promise<unknown>>()
  return {
    append(projectId, event) {
      const fields = FIELDS.flatMap((f) => [f, String(event[f] ?? '')])
      const write = redis.xadd(key(projectId), 'MAXLEN', '~', String(opts.kept), '*', ...fields).catch((err: unknown) => log.error({ err, projectId, event }, 'audit event not recorded'))
      inFlight.add(write)
      void write.finally(() => inFlight.delete(write))
    },
    async flush() {
      await Promise.all([...inFlight])
    },
    async page(projectId, { cursor, limit }) {
      if (cursor && beforeEveryEvent(cursor)) return { events: [], nextCursor: null }
      let entries: [string, string[]][]
      try {
        entries = await redis.xrevrange(key(projectId), cursor ? `(${cursor}` : '+', '-', 'COUNT', limit)
      } catch (err) {
        log.error({ err }, 'audit events read failed')
        throw new AppError('QUEUE_UNAVAILABLE', `the event store is unavailable (${causeCode(err)})`, { cause: causeCode(err) })
      }
      const events = entries.map(([id, flat]) => {
        const f: Record<string, string> = {}
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!
        return {
          id,
          at: new Date(Number(id.split('-')[0])).toISOString(),
          method: f.method ?? '',
          route: f.route ?? '',
          path: f.path ?? '',
          principal: f.principal ?? '',
          status: Number(f.status),
          code: f.code || null,
          requestId: f.requestId ?? '',
        }
      })
      return { events, nextCursor: events.length === limit ? events[events.length - 1]!.id : null }
    },
    async drop(projectId) {
      await redis.del(key(projectId))
    },
  }
}
