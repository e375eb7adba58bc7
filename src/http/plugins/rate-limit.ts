import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import { redisConnection } from '../../queue/connection.js'

const WINDOW_MS = 60_000

/**
 * One fixed window per key: the first hit starts a 60 s window, every hit counts, the window expires whole.
 * A script, so INCR and PEXPIRE cannot be split by a crash into a counter that never expires.
 * Returns [hits in this window, ms until it ends].
 */
const HIT_SCRIPT = `
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
`

interface Bucket {
  name: string
  /** The config setting, named in the 429's details. */
  setting: 'RATE_LIMIT_PREDICT_PER_MIN' | 'RATE_LIMIT_UPLOADS_PER_MIN'
  max: number
}

/**
 * Per-principal request rates on predictions and uploads, counted in Redis under the queue prefix so every API
 * replica shares one budget. 429 RATE_LIMITED with Retry-After once a window is spent. When Redis is down the
 * limit is not enforced: predictions from loaded models must go on.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts
    const redis = redisConnection(config.REDIS_URL, 'api', app.log)
    const predict: Bucket = { name: 'predict', setting: 'RATE_LIMIT_PREDICT_PER_MIN', max: config.RATE_LIMIT_PREDICT_PER_MIN }
    const uploads: Bucket = { name: 'uploads', setting: 'RATE_LIMIT_UPLOADS_PER_MIN', max: config.RATE_LIMIT_UPLOADS_PER_MIN }
    const buckets = new Map<string, Bucket>([
      ['GET /predict', predict],
      ['POST /predict', predict],
      ['POST /datasets', uploads],
      ['POST /bases', uploads],
    ])

    app.addHook('onRequest', async (request, reply) => {
      const bucket = buckets.get(`${request.method} ${request.routeOptions.url}`)
      if (!bucket) return
      const key = `${config.QUEUE_PREFIX}:ratelimit:${bucket.name}:${request.principal.id}`
      let hits: number
      let ttlMs: number
      try {
        ;[hits, ttlMs] = (await redis.eval(HIT_SCRIPT, 1, key, WINDOW_MS)) as [number, number]
      } catch (err) {
        request.log.warn({ err }, 'rate limit not enforced: redis unavailable')
        return
      }
      if (hits <= bucket.max) return
      const retryAfter = Math.max(1, Math.ceil(ttlMs / 1000))
      reply.header('retry-after', String(retryAfter))
      throw new AppError('RATE_LIMITED', `more than ${bucket.max} ${bucket.name} requests per minute; retry in ${retryAfter} s`, {
        limit: bucket.setting,
        max: bucket.max,
        retryAfterSeconds: retryAfter,
      })
    })
    app.addHook('onClose', async () => {
      redis.disconnect()
    })
  },
  { name: 'rate-limit', dependencies: ['auth'] },
)
