import { EventEmitter } from 'node:events'
import { QueueEvents } from 'bullmq'
import type { Redis } from 'ioredis'
import type { LogSink } from '../logger.js'
import { redisConnection } from './connection.js'
import { CANCEL_REQUESTED_EVENT, TRAINING_QUEUE } from './jobs.js'

/** Every QueueEvents event that can change what `GET /jobs/:id` shows. */
const WATCHED = ['waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled', 'removed', 'priority', CANCEL_REQUESTED_EVENT] as const

/** Redis stream ids: `<ms>-<seq>`. */
const STREAM_ID = /^\d{1,20}-\d{1,20}$/
const SCAN_PAGE = 500

function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt)
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt)
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1
}

export interface JobEvents {
  /** Calls `onEvent(streamId)` for each event about `jobId` until the returned function is called. */
  subscribe(jobId: string, onEvent: (eventId: string) => void): Promise<() => void>
  /** The id of the newest event in the queue's stream ('0-0' when it is empty). */
  latestId(): Promise<string>
  /**
   * Whether the stream holds an event about `jobId` after `eventId`. True as well when `eventId` is malformed or
   * older than the stream's first entry (trimmed away), since nothing can then be ruled out.
   */
  changedSince(jobId: string, eventId: string): Promise<boolean>
  close(): Promise<void>
}

/**
 * Job events from BullMQ's per-queue Redis stream, so every API replica sees every worker's progress. One
 * QueueEvents (one blocking connection) per process, started on first use and fanned out by job id.
 */
export function createJobEvents(opts: { redisUrl: string; prefix: string; client: Redis; eventsKey: string; log: LogSink }): JobEvents {
  const bus = new EventEmitter().setMaxListeners(0)
  let started: { queueEvents: QueueEvents; connection: Redis; ready: Promise<void> } | undefined

  const start = () => {
    if (!started) {
      const connection = redisConnection(opts.redisUrl, 'worker', opts.log)
      const queueEvents = new QueueEvents(TRAINING_QUEUE, { connection, prefix: opts.prefix })
      queueEvents.on('error', (err) => opts.log.error({ err }, 'queue events error'))
      for (const name of WATCHED) {
        // QueueEvents emits custom events (ours: cancel-requested) like its own; its types only list its own.
        ;(queueEvents as EventEmitter).on(name, (args: { jobId?: string }, id: string) => {
          if (args.jobId) bus.emit(args.jobId, id)
        })
      }
      started = { queueEvents, connection, ready: queueEvents.waitUntilReady() }
    }
    return started.ready
  }

  return {
    async subscribe(jobId, onEvent) {
      await start()
      bus.on(jobId, onEvent)
      return () => void bus.off(jobId, onEvent)
    },
    async latestId() {
      const [last] = await opts.client.xrevrange(opts.eventsKey, '+', '-', 'COUNT', 1)
      return last?.[0] ?? '0-0'
    },
    async changedSince(jobId, eventId) {
      if (!STREAM_ID.test(eventId)) return true
      const [first] = await opts.client.xrange(opts.eventsKey, '-', '+', 'COUNT', 1)
      if (!first || compareIds(first[0], eventId) > 0) return true
      for (let from = `(${eventId}`; ; ) {
        const entries = await opts.client.xrange(opts.eventsKey, from, '+', 'COUNT', SCAN_PAGE)
        for (const [, fields] of entries) {
          const at = fields.indexOf('jobId')
          if (at !== -1 && at % 2 === 0 && fields[at + 1] === jobId) return true
        }
        if (entries.length < SCAN_PAGE) return false
        from = `(${entries[entries.length - 1]![0]}`
      }
    },
    async close() {
      if (!started) return
      await started.queueEvents.close()
      started.connection.disconnect()
    },
  }
}
