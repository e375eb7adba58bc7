import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import {
  AuditEventSchema,
  CreatedKeySchema,
  CreateKeySchema,
  CreateProjectSchema,
  DEFAULT_PROJECT_ID,
  KeyIdSchema,
  KeyListingSchema,
  ProjectIdSchema,
  ProjectSchema,
  QuotaOverrideSchema,
  WhoAmISchema,
} from '../../contract/projects.js'
import { AppError } from '../../errors.js'
import { EVENT_CURSOR_PATTERN } from '../../services/project-events.js'
import { qualifiedModelId } from '../../storage/project-models.js'
import { projectPrefix } from '../../storage/project-store.js'
import { repositoriesFor } from '../../storage/repositories.js'
import { ADMIN_ROUTE, ANY_KEY_ROUTE } from '../plugins/auth.js'
import { errorResponses, NoContentSchema } from '../schemas/common.js'

const ProjectParamsSchema = Type.Object({ id: ProjectIdSchema })
const KeyParamsSchema = Type.Object({ id: ProjectIdSchema, keyId: KeyIdSchema })
const TAGS = ['projects']

/**
 * Projects, their keys, quotas and audit trail: the admin scope (keys in API_KEYS) only. Each route records the
 * project it acted on, so the audit files its event there.
 */
const projectRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { projects } = app

  async function projectOr404(id: string) {
    const project = await projects.get(id)
    if (!project) throw new AppError('PROJECT_NOT_FOUND', `no project ${id}`)
    return project
  }

  /** The project a changing route acts on: 404 when there is none, else recorded for the audit. */
  async function actOn(request: FastifyRequest, id: string) {
    await projectOr404(id)
    request.auditProjectId = id
  }

  app.get(
    '/whoami',
    {
      config: ANY_KEY_ROUTE,
      schema: {
        tags: ['auth'],
        operationId: 'whoami',
        summary: 'The calling key: its project and scopes',
        description: 'Any valid key may ask. In open mode (no API_KEYS) every caller is in the `default` project.',
        response: { 200: WhoAmISchema, ...errorResponses },
      },
    },
    async (request) => {
      const { projectId, id, scopes } = request.principal
      const project = await projects.get(projectId)
      return { project: { id: projectId, name: project?.name ?? projectId }, principal: id, scopes: [...scopes], open: app.config.API_KEYS === '' }
    },
  )

  app.post(
    '/projects',
    {
      config: ADMIN_ROUTE,
      schema: { tags: TAGS, operationId: 'createProject', summary: 'Create a project', description: 'A tenant: its datasets, jobs, models, aliases, bases and feature cache are seen by its own keys only. Names are unique, compared trimmed and without case (409 `PROJECT_EXISTS`, `details.id` naming the holder); a deleted project\'s name is free again, for a project with a new id and new keys.', body: CreateProjectSchema, response: { 201: ProjectSchema, ...errorResponses } },
    },
    async (request, reply) => {
      const project = await projects.create(request.body.name)
      request.auditProjectId = project.id
      request.log.info({ projectId: project.id }, 'project created')
      return reply.code(201).header('location', `/projects/${project.id}`).send(project)
    },
  )

  app.get(
    '/projects',
    { config: ADMIN_ROUTE, schema: { tags: TAGS, operationId: 'listProjects', summary: 'List projects', description: 'Every project, `default` (the API_KEYS keys\' project) included, oldest first, with its effective quota.', response: { 200: Type.Object({ projects: Type.Array(ProjectSchema) }), ...errorResponses } } },
    async () => ({ projects: await projects.list() }),
  )

  app.get(
    '/projects/:id',
    { config: ADMIN_ROUTE, schema: { tags: TAGS, operationId: 'getProject', summary: 'Get a project', description: 'Its name, effective quota and override.', params: ProjectParamsSchema, response: { 200: ProjectSchema, ...errorResponses } } },
    async (request) => projectOr404(request.params.id),
  )

  app.delete(
    '/projects/:id',
    {
      config: ADMIN_ROUTE,
      schema: {
        tags: TAGS,
        operationId: 'deleteProject',
        summary: 'Delete a project and everything it holds',
        description:
          'Revokes its keys, then deletes its datasets, models, aliases, bases, checkpoints, feature cache, finished jobs and events. 409 `PROJECT_BUSY` while it has queued or running jobs (cancel them first); `default` cannot be deleted (409 `PROJECT_PROTECTED`).',
        params: ProjectParamsSchema,
        response: { 204: NoContentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      await actOn(request, id)
      if (id === DEFAULT_PROJECT_ID) throw new AppError('PROJECT_PROTECTED', 'the default project holds the store\'s root and the API_KEYS keys; it cannot be deleted')
      const busy = async (why: string) => {
        const { project: unfinished } = await app.trainingQueue.countUnfinished(id)
        if (unfinished > 0) throw new AppError('PROJECT_BUSY', `project ${id} has ${unfinished} queued or running jobs${why}; cancel them first (with a key of the project)`, { jobs: unfinished })
      }
      await busy('')
      // Keys first: nothing can be added while the rest goes. Each step is idempotent, so a failed delete can be retried.
      await projects.revokeAll(id)
      // A job queued by a request that passed auth just before the revocation would train on deleted data.
      await busy(' (queued while its keys were being revoked: the keys are gone)')
      const { models } = repositoriesFor(app.stores, id, { layout: app.layout })
      for (const model of await models.list()) await app.predictor.evict(qualifiedModelId(id, model.id))
      await app.trainingQueue.removeFinished(id)
      await app.stores.shared.deletePrefix(projectPrefix(id))
      if (app.stores.local !== app.stores.shared) await app.stores.local.deletePrefix(projectPrefix(id))
      await app.projectEvents.drop(id)
      await projects.remove(id)
      request.log.info({ projectId: id }, 'project deleted')
      return reply.code(204).send(null)
    },
  )

  app.put(
    '/projects/:id/quota',
    {
      config: ADMIN_ROUTE,
      schema: {
        tags: TAGS,
        operationId: 'setProjectQuota',
        summary: 'Override a project\'s quota',
        description: 'Replaces the override whole: a field left out takes the config\'s default again (`{}` clears it). Every replica applies it within a second.',
        params: ProjectParamsSchema,
        body: QuotaOverrideSchema,
        response: { 200: ProjectSchema, ...errorResponses },
      },
    },
    async (request) => {
      request.auditProjectId = request.params.id
      const project = await projects.setQuota(request.params.id, request.body)
      if (!project) throw new AppError('PROJECT_NOT_FOUND', `no project ${request.params.id}`)
      return project
    },
  )

  app.post(
    '/projects/:id/keys',
    {
      config: ADMIN_ROUTE,
      schema: {
        tags: TAGS,
        operationId: 'createKey',
        summary: 'Create a key for a project',
        description: 'The answer holds the key itself, this once: only its SHA-256 is stored (in Redis, backed up in the store).',
        params: ProjectParamsSchema,
        body: CreateKeySchema,
        response: { 201: CreatedKeySchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      await actOn(request, id)
      const created = await projects.createKey(id, request.body.scopes, request.body.name)
      request.log.info({ projectId: id, keyId: created.id, scopes: created.scopes }, 'key created')
      return reply.code(201).send(created)
    },
  )

  app.get(
    '/projects/:id/keys',
    { config: ADMIN_ROUTE, schema: { tags: TAGS, operationId: 'listKeys', summary: 'List a project\'s keys', description: 'Ids, names, scopes, creation and last use (to the minute); never the keys.', params: ProjectParamsSchema, response: { 200: Type.Object({ keys: Type.Array(KeyListingSchema) }), ...errorResponses } } },
    async (request) => {
      await projectOr404(request.params.id)
      return { keys: await projects.listKeys(request.params.id) }
    },
  )

  app.delete(
    '/projects/:id/keys/:keyId',
    { config: ADMIN_ROUTE, schema: { tags: TAGS, operationId: 'revokeKey', summary: 'Revoke a key', description: 'Every API replica refuses the key (401) from the next request on.', params: KeyParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } },
    async (request, reply) => {
      const { id, keyId } = request.params
      await actOn(request, id)
      if (!(await projects.revokeKey(id, keyId))) throw new AppError('KEY_NOT_FOUND', `project ${id} has no key ${keyId}`)
      request.log.info({ projectId: id, keyId }, 'key revoked')
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/projects/:id/events',
    {
      config: ADMIN_ROUTE,
      schema: {
        tags: TAGS,
        operationId: 'listProjectEvents',
        summary: 'A project\'s audit trail',
        description: 'Every mutating request made in or on the project (method, route, key, status, error code), newest first; page with `cursor` (the previous page\'s `nextCursor`).',
        params: ProjectParamsSchema,
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            cursor: Type.Optional(Type.String({ pattern: EVENT_CURSOR_PATTERN, description: 'nextCursor of the previous page.' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ events: Type.Array(AuditEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
      },
    },
    async (request) => {
      await projectOr404(request.params.id)
      return app.projectEvents.page(request.params.id, { cursor: request.query.cursor, limit: request.query.limit ?? 50 })
    },
  )
}

export default projectRoutes
