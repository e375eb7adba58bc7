import { Redis } from 'ioredis'
import type { LogSink } from '../logger.js'

/**
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block (workers); the API's queue connection
 * fails fast instead, so a request never hangs on a Redis that is down. Every client gets an error listener: without
 * one ioredis prints "Unhandled error event" on each reconnect attempt while Redis is down. It logs the first error of
 * an outage and the recovery, not every retry.
 */
export function redisConnection(url: string, role: 'api' | 'worker', log: LogSink): Redis {
  const client = new Redis(url, role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false })
  let down = false
  client.on('error', (err: Error) => {
    if (!down) log.warn({ err: { message: err.message }, role }, 'redis connection lost; reconnecting')
    down = true
  })
  client.on('ready', () => {
    if (down) log.info({ role }, 'redis connection back')
    down = false
  })
  return client
}
