import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import type { Quota, QuotaOverride } from '../../contract/projects.js'
import { redisConnection } from '../../queue/connection.js'
import { limitName } from '../../services/projects.js'

const WINDOW_MS = 60_000

/** A shared request budget; routes name theirs in `config.rateLimitBucket`. */
export type RateLimitBucket = 'predict' | 'uploads'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The per-project budget this route spends from (GET and POST /predict share `predict`). */
    rateLimitBucket?: RateLimitBucket
  }
}

/** The project quota each bucket's size comes from. */
const QUOTA_FIELD = { predict: 'predictPerMin', uploads: 'uploadsPerMin' } as const satisfies Record<RateLimitBucket, keyof Quota>

const bucketOf = (request: FastifyRequest) => request.routeOptions.config.rateLimitBucket

/**
 * Per-project request rates on predictions and uploads through @fastify/rate-limit's Redis store: a 60 s fixed
 * window per `<QUEUE_PREFIX>:ratelimit:<bucket>:<project>` key (INCR + PEXPIRE in one script), so every API
 * replica shares one budget; its size is the project's quota (the config's default unless overridden). 429
 * RATE_LIMITED with Retry-After once a window is spent, naming the quota. When Redis is down the limit is not
 * enforced (`skipOnError`): predictions from loaded models must go on.
 *
 * Registered as the plugin's global limiter rather than per-route `config.rateLimit`: the plugin gives each
 * route-level limit its own key prefix (method + URL), which would split the budget GET and POST /predict share.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts
    const redis = redisConnection(config.REDIS_URL, 'api', app.log)
    /** The override `max` read for a request, for the 429 to name the limit it hit. */
    const overrides = new WeakMap<FastifyRequest, QuotaOverride>()
    await app.register(fastifyRateLimit, {
      global: true,
      redis,
      nameSpace: `${config.QUEUE_PREFIX}:ratelimit:`,
      timeWindow: WINDOW_MS,
      skipOnError: true,
      // Routes without a bucket are not limited and cost no Redis call. The plugin asks for the key before it
      // consults allowList, and open routes have no principal: the key must not assume either.
      allowList: (request) => bucketOf(request) === undefined,
      keyGenerator: (request) => `${bucketOf(request) ?? 'none'}:${request.principal?.projectId}`,
      max: async (request) => {
        const { quota, override } = await app.projects.quota(request.principal.projectId)
        overrides.set(request, override)
        return quota[QUOTA_FIELD[bucketOf(request)!]]
      },
      // Only Retry-After on a 429, as before: no X-RateLimit-* headers on every answer.
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
      onExceeded: (request) => request.log.info({ bucket: bucketOf(request), principal: request.principal.id, projectId: request.principal.projectId }, 'rate limited'),
      errorResponseBuilder: (request, context) => {
        const bucket = bucketOf(request)!
        const field = QUOTA_FIELD[bucket]
        const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000))
        return new AppError('RATE_LIMITED', `more than ${context.max} ${bucket} requests per minute in project ${request.principal.projectId}; retry in ${retryAfter} s`, {
          limit: limitName(field, overrides.get(request) ?? {}),
          quota: field,
          max: context.max,
          retryAfterSeconds: retryAfter,
        })
      },
    })
    app.addHook('onClose', async () => {
      redis.disconnect()
    })
  },
  { name: 'rate-limit', dependencies: ['auth', 'projects'] },
)
