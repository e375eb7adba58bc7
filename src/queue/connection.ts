import { Redis } from 'ioredis'

/**
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block (workers); the API's queue connection
 * fails fast instead, so a request never hangs on a Redis that is down.
 */
export function redisConnection(url: string, role: 'api' | 'worker'): Redis {
  return new Redis(url, role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false })
}
