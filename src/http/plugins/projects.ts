import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { DEFAULT_PROJECT_ID } from '../../contract/projects.js'
import { redisConnection } from '../../queue/connection.js'
import { createProjectEvents, type ProjectEvents } from '../../services/project-events.js'
import { createProjectRegistry, type ProjectRegistry } from '../../services/projects.js'
import { createQuotaChecks, type QuotaChecks } from '../../services/quotas.js'
import { openSharedStore } from '../../storage/open-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Projects and their keys (Redis, backed up in the store). */
    projects: ProjectRegistry
    /** Each project's audit trail. */
    projectEvents: ProjectEvents
    /** Each project's queued-jobs and storage quotas. */
    quotas: QuotaChecks
  }
  interface FastifyRequest {
    /**
     * The project an admin route acted on (set by the route), so its audit event lands in that project's trail;
     * other routes act on the caller's project.
     */
    auditProjectId: string | undefined
    /** The error code of a refused request, read from the answer for the audit. */
    auditCode: string | undefined
  }
  interface FastifyContextConfig {
    /** false: a POST that changes nothing (predictions) and is not audited. @defaultValue true for POST, PUT, PATCH, DELETE */
    audit?: false
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

function errorCodeOf(payload: unknown): string | undefined {
  if (typeof payload !== 'string') return undefined
  try {
    return (JSON.parse(payload) as { error?: { code?: string } }).error?.code
  } catch {
    return undefined
  }
}

/**
 * The project registry and the audit: every mutating request is logged with its project, key and outcome, and
 * appended to its project's event trail. The registry has its own handle on the shared store (for its backup) and
 * its own Redis connection, so authentication does not wait for the rest of the services.
 */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts
    const redis = redisConnection(config.REDIS_URL, 'api', app.log)
    const store = await openSharedStore(config)
    const registry = createProjectRegistry({ redis, prefix: config.QUEUE_PREFIX, store, defaults: config, log: app.log })
    app.decorate('projects', registry)
    app.decorate('projectEvents', createProjectEvents({ redis, prefix: config.QUEUE_PREFIX, kept: config.PROJECT_EVENTS_KEPT, log: app.log }))
    app.decorate('quotas', createQuotaChecks(registry, store))
    app.decorateRequest('auditProjectId', undefined)
    app.decorateRequest('auditCode', undefined)
    // Refilled once connected when Redis lost it (the first lookup would also do it); not awaited: the API starts
    // with Redis down and serves what does not need it.
    redis.once('ready', () => void registry.restore().catch((err: unknown) => app.log.warn({ err }, 'project registry not restored at start')))

    const audited = (request: FastifyRequest) => MUTATING.has(request.method) && request.routeOptions.url !== undefined && request.routeOptions.config.audit !== false
    app.addHook('onSend', async (request, reply, payload) => {
      if (reply.statusCode >= 400 && audited(request)) request.auditCode = errorCodeOf(payload)
      return payload
    })
    app.addHook('onResponse', async (request, reply) => {
      if (!audited(request)) return
      const projectId = request.auditProjectId ?? request.principal?.projectId
      const principal = request.principal?.id ?? `ip:${request.ip}`
      const event = {
        method: request.method,
        route: request.routeOptions.url ?? '',
        path: request.url.split('?')[0] ?? '',
        principal,
        status: reply.statusCode,
        code: request.auditCode ?? null,
        requestId: request.id,
      }
      request.log.info({ audit: true, projectId: projectId ?? null, principal, status: reply.statusCode, code: event.code }, 'audit')
      // `default` always exists; another id may not (a DELETE of an unknown project): no trail is started for it.
      if (projectId && (projectId === DEFAULT_PROJECT_ID || (await registry.get(projectId).catch(() => undefined)))) app.projectEvents.append(projectId, event)
    })
    app.addHook('onClose', async () => {
      await app.projectEvents.flush()
      redis.disconnect()
      store.close()
    })
  },
  { name: 'projects', dependencies: ['error-handler'] },
)
