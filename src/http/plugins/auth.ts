import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'

export type Scope = 'train' | 'predict'

/** Who sent a request: a configured key, or (when the API runs open) the client address. */
export interface Principal {
  /** `key:<first 16 hex of its hash>` or `ip:<address>`; rate limits and job quotas count per principal. */
  id: string
  scopes: ReadonlySet<Scope>
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal
  }
  interface FastifyContextConfig {
    /**
     * Who may call the route: `'open'` (probes, the API description, the dashboard's files) or the scopes, any of
     * which will do. @defaultValue `['train']`
     */
    auth?: 'open' | readonly Scope[]
  }
}

/** Route config of the routes anyone may call. */
export const OPEN_ROUTE = { auth: 'open' } as const
/** Route config of the model files: a browser that only predicts must be able to load them (tf.loadLayersModel). */
export const MODEL_FILE_ROUTE = { auth: ['predict', 'train'] } as const

interface ApiKey {
  hash: Buffer
  id: string
  scopes: ReadonlySet<Scope>
}

const ALL_SCOPES: ReadonlySet<Scope> = new Set(['train', 'predict'])
const BEARER = /^Bearer +(\S+) *$/i

/** The hash `API_KEYS` stores for `key`: `sha256hex(key)`. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

/** `API_KEYS` (already checked against its pattern by loadConfig) as key records. */
export function parseApiKeys(value: string): ApiKey[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [hash = '', scopes = ''] = entry.split(':')
      return { hash: Buffer.from(hash, 'hex'), id: `key:${hash.slice(0, 16)}`, scopes: new Set(scopes.split('+') as Scope[]) }
    })
}

/**
 * The scopes that may call a route, from its `config.auth`: `undefined` for open routes, and for routes that do
 * not exist any valid key (so a 404 tells nothing to a caller without one).
 */
function scopesFor(request: FastifyRequest): readonly Scope[] | undefined {
  if (request.routeOptions.url === undefined) return ['train', 'predict']
  const auth = request.routeOptions.config.auth ?? ['train']
  return auth === 'open' ? undefined : auth
}

/**
 * Every configured hash is compared, each in constant time, so neither the comparison nor the loop says how
 * much of a guess was right or which entry matched.
 */
function findKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const hash = createHash('sha256').update(presented, 'utf8').digest()
  let found: ApiKey | undefined
  for (const key of keys) if (timingSafeEqual(key.hash, hash) && !found) found = key
  return found
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/**
 * `Authorization: Bearer <key>` against the hashed `API_KEYS`; 401 UNAUTHORIZED without a valid key, 403
 * FORBIDDEN when the key lacks the route's scope. With no keys configured every request passes as its IP.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const keys = parseApiKeys(opts.config.API_KEYS)
    if (keys.length === 0) {
      const exposed = !isLoopback(opts.config.HOST)
      app.log[exposed ? 'error' : 'warn'](
        { host: opts.config.HOST },
        exposed
          ? 'no API_KEYS configured and HOST is not loopback: anyone who reaches this port can train and predict'
          : 'no API_KEYS configured: the API runs open (fine on localhost only)',
      )
    }
    app.decorateRequest('principal', null as unknown as Principal)

    app.addHook('onRequest', async (request: FastifyRequest, reply) => {
      if (keys.length === 0) {
        request.principal = { id: `ip:${request.ip}`, scopes: ALL_SCOPES }
        return
      }
      const needed = scopesFor(request)
      if (!needed) return
      const token = BEARER.exec(request.headers.authorization ?? '')?.[1]
      const key = token === undefined ? undefined : findKey(keys, token)
      if (!key) {
        reply.header('www-authenticate', 'Bearer realm="imagetune"')
        throw new AppError('UNAUTHORIZED', token === undefined ? 'send an API key as "Authorization: Bearer <key>"' : 'unknown API key')
      }
      if (!needed.some((scope) => key.scopes.has(scope))) {
        throw new AppError('FORBIDDEN', `this key lacks the ${needed.join(' or ')} scope`, { required: needed, scopes: [...key.scopes] })
      }
      request.principal = { id: key.id, scopes: key.scopes }
    })
  },
  { name: 'auth', dependencies: ['error-handler'] },
)
