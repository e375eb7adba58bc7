/**
 * A heartbeat between a sandboxed processor and its worker. BullMQ renews a job's lock from the worker's main process,
 * which keeps renewing while the child is alive, even when the child is stuck (a deadlock, a tfjs call that never
 * returns, a SIGSTOP). The child beats over IPC; a retained child that stops beating is killed, so the sandbox fails
 * its job (retried from its checkpoint through `attempts`) instead of holding it forever.
 */
import type { Child, ChildPool } from 'bullmq'

/** The IPC message a sandboxed child sends while its event loop runs; BullMQ's own commands are numbers. */
export const HEARTBEAT_MESSAGE = 'imagetune:heartbeat'

/** Beats per timeout: a child must miss this many in a row before it counts as hung. */
const BEATS_PER_TIMEOUT = 5

/** How often the child beats, ms, for a given timeout. */
export function heartbeatIntervalMs(timeoutMs: number): number {
  return Math.max(100, Math.floor(timeoutMs / BEATS_PER_TIMEOUT))
}

/** Starts the child's side: beats while its event loop turns, never keeping the process alive by itself. */
export function startHeartbeat(timeoutMs: number): void {
  if (!process.send) return // not forked (a test importing the processor): nobody listens
  const beat = () => process.send?.({ cmd: HEARTBEAT_MESSAGE })
  beat()
  setInterval(beat, heartbeatIntervalMs(timeoutMs)).unref()
}

/**
 * Watches every child `pool` hands to a job: one silent for `timeoutMs` is killed with SIGKILL and reported through
 * `onHung`. A free child (between jobs) is not watched. Wraps the pool's `retain`/`release`, which BullMQ's sandbox
 * calls per job.
 */
export function watchSandboxes(pool: ChildPool, timeoutMs: number, onHung: (pid: number, silentMs: number) => void): void {
  const retain = pool.retain.bind(pool)
  const release = pool.release.bind(pool)
  const watches = new Map<Child, () => void>()

  const unwatch = (child: Child) => {
    watches.get(child)?.()
    watches.delete(child)
  }

  pool.retain = async (processFile: string) => {
    const child = await retain(processFile)
    let lastBeat = Date.now()
    const onMessage = (msg: { cmd?: unknown }) => {
      if (msg?.cmd === HEARTBEAT_MESSAGE) lastBeat = Date.now()
    }
    const timer = setInterval(() => {
      const silentMs = Date.now() - lastBeat
      if (silentMs <= timeoutMs) return
      unwatch(child)
      onHung(child.pid, silentMs)
      void pool.kill(child, 'SIGKILL')
    }, heartbeatIntervalMs(timeoutMs))
    timer.unref()
    child.on('message', onMessage)
    child.once('exit', () => unwatch(child))
    watches.set(child, () => {
      clearInterval(timer)
      child.off('message', onMessage)
    })
    return child
  }
  pool.release = (child: Child) => {
    unwatch(child)
    release(child)
  }
}
