import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { DEFAULT_PROJECT_ID, type Scope } from '../../contract/projects.js'
import { AppError } from '../../errors.js'
import { hashKey, keyIdOf } from '../../services/projects.js'

export type { Scope }

/** Who sent a request: a key (from API_KEYS or one created for a project), or (when the API runs open) the client address. */
export interface Principal {
  /** `key:<first 16 hex of its hash>` or `ip:<address>`; upload slots and per-key job quotas count per principal. */
  id: string
  /** The project every resource the request names or creates belongs to; rate limits count per project. */
  projectId: string
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
/** Route config of the project and key management routes. */
export const ADMIN_ROUTE = { auth: ['admin'] } as const
/** Route config of the routes any valid key may call (which project am I in?). */
export const ANY_KEY_ROUTE = { auth: ['train', 'predict', 'admin'] } as const

interface ApiKey {
  hash: Buffer
  id: string
  scopes: ReadonlySet<Scope>
}

/** Open mode: one project, everything but administration (there are no keys to administer). */
const OPEN_SCOPES: ReadonlySet<Scope> = new Set(['train', 'predict'])
const BEARER = /^Bearer +(\S+) *$/i

/** The hash `API_KEYS` (and the project registry) stores for `key`: `sha256hex(key)`. */
export const hashApiKey = hashKey

/** `API_KEYS` (already checked against its pattern by loadConfig) as key records. */
export function parseApiKeys(value: string): ApiKey[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [hash = '', scopes = ''] = entry.split(':')
      return { hash: Buffer.from(hash, 'hex'), id: `key:${keyIdOf(hash)}`, scopes: new Set(scopes.split('+') as Scope[]) }
    })
}

/**
 * The scopes that may call a route, from its `config.auth`: `undefined` for open routes, and for routes that do
 * not exist any valid key (so a 404 tells nothing to a caller without one).
 */
function scopesFor(request: FastifyRequest): readonly Scope[] | undefined {
  if (request.routeOptions.url === undefined) return ANY_KEY_ROUTE.auth
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
 * `Authorization: Bearer <key>` against the hashed `API_KEYS` (project `default`), then the keys created for
 * projects (Redis, read on every request: a revoked key is refused by every replica at once); 401 UNAUTHORIZED
 * without a valid key, 403 FORBIDDEN when the key lacks the route's scope. With no keys configured every request
 * passes as its IP, in project `default`, without the admin scope.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const keys = parseApiKeys(opts.config.API_KEYS)
    const { projects } = app
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

    /** A configured key, else a project's key; undefined for neither. */
    async function principalFor(token: string): Promise<Principal | undefined> {
      const configured = findKey(keys, token)
      if (configured) return { id: configured.id, projectId: DEFAULT_PROJECT_ID, scopes: configured.scopes }
      const registered = await projects.authenticate(hashApiKey(token))
      if (!registered) return undefined
      projects.touch(registered.id)
      return { id: `key:${registered.id}`, projectId: registered.projectId, scopes: new Set(registered.scopes) }
    }

    app.addHook('onRequest', async (request: FastifyRequest, reply) => {
      const needed = scopesFor(request)
      if (keys.length === 0) {
        request.principal = { id: `ip:${request.ip}`, projectId: DEFAULT_PROJECT_ID, scopes: OPEN_SCOPES }
        if (needed && !needed.some((scope) => OPEN_SCOPES.has(scope))) {
          throw new AppError('FORBIDDEN', 'the API runs open (no API_KEYS): one default project, no administration; configure an admin key in API_KEYS', { required: needed })
        }
        return
      }
      if (!needed) return
      const token = BEARER.exec(request.headers.authorization ?? '')?.[1]
      const principal = token === undefined ? undefined : await principalFor(token)
      if (!principal) {
        reply.header('www-authenticate', 'Bearer realm="imagetune"')
        // A revoked key still in use is audited in its project's trail under its id; the request ends here, no scope.
        // Only the audit needs it: a failed read leaves the 401 as it is.
        const revoked = token === undefined ? undefined : await projects.revokedKey(hashApiKey(token)).catch(() => undefined)
        if (revoked) request.principal = { id: `key:${revoked.id}`, projectId: revoked.projectId, scopes: new Set() }
        throw new AppError('UNAUTHORIZED', token === undefined ? 'send an API key as "Authorization: Bearer <key>"' : 'unknown API key')
      }
      // Set before the scope check, so a refused attempt is audited under its key and project.
      request.principal = principal
      if (!needed.some((scope) => principal.scopes.has(scope))) {
        throw new AppError('FORBIDDEN', `this key lacks the ${needed.join(' or ')} scope`, { required: needed, scopes: [...principal.scopes] })
      }
    })
  },
  { name: 'auth', dependencies: ['error-handler', 'projects'] },
)
