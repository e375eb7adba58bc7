import type { Redis } from 'ioredis'
import type { Queue } from 'bullmq'
import { CANCEL_REQUESTED_EVENT } from './jobs.js'

/** The job hash field a cancel request sets: a worker that starts such a job cancels it at once. */
export const CANCEL_REQUESTED_FIELD = 'cancelRequested'

/**
 * One atomic step, so a worker cannot take the job half-way: a queued job (wait, paused, prioritized or delayed for
 * a retry) goes straight to BullMQ's failed set with the reason, and a `failed` event is written as BullMQ writes
 * it (QueueEvents, SSE and webhooks see it like any failure). A job that is running, or between states, gets a
 * `cancelRequested` field on its hash (checked when a worker starts it) and a `cancel-requested` event for the
 * worker that holds it.
 *
 * KEYS: job hash, wait, paused, prioritized, delayed, failed, completed, events, meta
 * ARGV: job id, failed reason, now (ms)
 */
const CANCEL_SCRIPT = `
local rcall = redis.call
local id = ARGV[1]
if rcall("EXISTS", KEYS[1]) == 0 then return "missing" end
if rcall("ZSCORE", KEYS[6], id) or rcall("ZSCORE", KEYS[7], id) then return "finished" end
local maxEvents = rcall("HGET", KEYS[9], "opts.maxLenEvents") or 10000
local prev = false
if rcall("LREM", KEYS[2], 0, id) > 0 or rcall("LREM", KEYS[3], 0, id) > 0 then prev = "waiting"
elseif rcall("ZREM", KEYS[4], id) > 0 then prev = "prioritized"
elseif rcall("ZREM", KEYS[5], id) > 0 then prev = "delayed" end
if prev then
  rcall("HSET", KEYS[1], "failedReason", ARGV[2], "finishedOn", ARGV[3])
  rcall("ZADD", KEYS[6], ARGV[3], id)
  rcall("XADD", KEYS[8], "MAXLEN", "~", maxEvents, "*", "event", "failed", "jobId", id, "failedReason", ARGV[2], "prev", prev)
  return "cancelled"
end
rcall("HSET", KEYS[1], "${CANCEL_REQUESTED_FIELD}", ARGV[3])
rcall("XADD", KEYS[8], "MAXLEN", "~", maxEvents, "*", "event", "${CANCEL_REQUESTED_EVENT}", "jobId", id)
return "requested"
`

/** `cancelled`: it was queued and is now failed with `reason`; `requested`: it runs, and its worker was told. */
export type CancelOutcome = 'missing' | 'finished' | 'cancelled' | 'requested'

export async function cancelJob(client: Redis, queue: Queue, jobId: string, reason: string): Promise<CancelOutcome> {
  const keys = [jobId, 'wait', 'paused', 'prioritized', 'delayed', 'failed', 'completed', 'events', 'meta'].map((name) => queue.toKey(name))
  return (await client.eval(CANCEL_SCRIPT, keys.length, ...keys, jobId, reason, Date.now())) as CancelOutcome
}
