import type { ServerResponse } from 'node:http'
import type { JobDocument } from '../queue/job-document.js'
import type { JobEventSource } from '../services/training.js'

/** A comment line this often keeps proxies from closing a quiet stream, and re-reads the job as a safety net. */
const HEARTBEAT_MS = 15_000

const isTerminal = (doc: JobDocument) => doc.status === 'completed' || doc.status === 'failed' || doc.status === 'cancelled'

/**
 * Streams one job's document as Server-Sent Events: `progress` events while it changes, then one `completed`,
 * `failed` or `cancelled` event, then the stream ends. Event ids are ids of BullMQ's Redis event stream, so a client
 * that reconnects with `Last-Event-ID` gets the current document only when something happened since (a finished
 * job with nothing new answers 204, which tells EventSource to stop reconnecting).
 * @returns a function that ends the stream (server shutdown)
 */
export async function streamJobEvents(opts: {
  source: JobEventSource
  jobId: string
  lastEventId: string | undefined
  res: ServerResponse
  onEnd(): void
}): Promise<() => void> {
  const { source, jobId, res } = opts
  let lastData = ''
  let ended = false
  // Events that arrive while the response head is being decided wait for it.
  let opened!: () => void
  let chain = new Promise<void>((resolve) => (opened = resolve))

  const end = () => {
    if (ended) return
    ended = true
    clearInterval(heartbeat)
    unsubscribe()
    res.end()
    opts.onEnd()
  }
  /** Reads the job and sends it when it differs from what was sent last; events are handled one at a time, in order. */
  const refresh = (eventId: string) => {
    chain = chain
      .then(async () => {
        if (ended) return
        const doc = await source.get(jobId)
        if (!doc) return end() // removed (retention, or the queue was emptied)
        const data = JSON.stringify(doc)
        if (data !== lastData) {
          lastData = data
          res.write(`id: ${eventId}\nevent: ${isTerminal(doc) ? doc.status : 'progress'}\ndata: ${data}\n\n`)
        }
        if (isTerminal(doc)) end()
      })
      .catch(() => end()) // Redis gone: the client reconnects with its Last-Event-ID and misses nothing
  }

  // Subscribe before reading the current state, so no change falls between the two.
  const unsubscribe = await source.events.subscribe(jobId, refresh)
  const heartbeat = setInterval(() => {
    res.write(': ping\n\n')
    void source.events.latestId().then(refresh, end)
  }, HEARTBEAT_MS)
  res.on('close', end)

  let headId: string
  let current: JobDocument | undefined
  let resumed: boolean
  try {
    headId = await source.events.latestId()
    current = await source.get(jobId)
    resumed = opts.lastEventId !== undefined && !(await source.events.changedSince(jobId, opts.lastEventId))
  } catch (err) {
    ended = true // nothing written yet: the caller answers with an error
    clearInterval(heartbeat)
    unsubscribe()
    throw err
  }
  if (resumed && current && isTerminal(current)) {
    res.writeHead(204)
    end()
    return end
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
  res.write('retry: 2000\n\n')
  // A client that missed nothing already holds the current document; anyone else gets it first.
  if (resumed && current) lastData = JSON.stringify(current)
  refresh(headId)
  opened()
  return end
}
