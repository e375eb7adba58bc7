import { parseArgs } from 'node:util'
import type { AuditEvent, KeyListing, Project, QuotaOverride, WhoAmI } from '../../contract/projects.js'
import { usageError } from '../cli-error.js'
import { print, type CommandContext } from '../context.js'
import { formatTable } from '../table.js'

const PROJECTS_USAGE = `usage: imagetune projects ls | show <id> | create <name> | delete <id>
       imagetune projects quota <id> [--queued-jobs N] [--stored-bytes N] [--predict-per-min N] [--uploads-per-min N]
       imagetune projects events <id> [--limit N] [--cursor C]`
const KEYS_USAGE = `usage: imagetune keys ls <project> | create <project> --scopes train,predict [--name NAME] | revoke <project> <keyId>`

const path = (...parts: string[]) => parts.map((p) => `/${encodeURIComponent(p)}`).join('')

/** `quota` flags to the override they set: the flags given replace the whole override. */
const QUOTA_FLAGS = { 'queued-jobs': 'queuedJobs', 'stored-bytes': 'storedBytes', 'predict-per-min': 'predictPerMin', 'uploads-per-min': 'uploadsPerMin' } as const

function printProject(ctx: CommandContext, project: Project): void {
  print(ctx, `id:      ${project.id}`)
  print(ctx, `name:    ${project.name}`)
  print(ctx, `created: ${project.createdAt}`)
  const rows = (Object.keys(project.quota) as (keyof Project['quota'])[]).map((field) => [
    field,
    field === 'storedBytes' && project.quota.storedBytes === 0 ? 'unlimited' : project.quota[field],
    project.quotaOverride[field] === undefined ? 'default' : 'override',
  ])
  print(ctx, formatTable(['quota', 'limit', 'from'], rows))
}

/** `imagetune projects …`: the admin routes for projects (an admin key in IMAGETUNE_API_KEY). */
export async function projectsCommand(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args
  switch (sub) {
    case 'ls': {
      const { projects } = await ctx.api.request<{ projects: Project[] }>('GET', '/projects')
      print(ctx, formatTable(['id', 'name', 'created', 'queued jobs', 'stored bytes'], projects.map((p) => [p.id, p.name, p.createdAt, p.quota.queuedJobs, p.quota.storedBytes || 'unlimited'])))
      return
    }
    case 'show':
      if (!rest[0]) throw usageError(PROJECTS_USAGE)
      return printProject(ctx, await ctx.api.request<Project>('GET', path('projects', rest[0])))
    case 'create': {
      const name = rest.join(' ').trim()
      if (!name) throw usageError(PROJECTS_USAGE)
      return printProject(ctx, await ctx.api.request<Project>('POST', '/projects', { json: { name } }))
    }
    case 'delete':
      if (!rest[0]) throw usageError(PROJECTS_USAGE)
      await ctx.api.request('DELETE', path('projects', rest[0]))
      print(ctx, `deleted project ${rest[0]}`)
      return
    case 'quota': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: Object.fromEntries(Object.keys(QUOTA_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
      })
      if (positionals.length !== 1) throw usageError(PROJECTS_USAGE)
      const override: QuotaOverride = {}
      for (const [flag, field] of Object.entries(QUOTA_FLAGS)) {
        const value = values[flag]
        if (typeof value !== 'string') continue
        if (!/^\d+$/.test(value)) throw usageError(`--${flag} takes a whole number`)
        override[field] = Number(value)
      }
      return printProject(ctx, await ctx.api.request<Project>('PUT', path('projects', positionals[0]!, 'quota'), { json: override }))
    }
    case 'events': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { limit: { type: 'string' }, cursor: { type: 'string' } } })
      if (positionals.length !== 1) throw usageError(PROJECTS_USAGE)
      const query = new URLSearchParams({ limit: values.limit ?? '50', ...(values.cursor && { cursor: values.cursor }) })
      const page = await ctx.api.request<{ events: AuditEvent[]; nextCursor: string | null }>('GET', `${path('projects', positionals[0]!, 'events')}?${query}`)
      print(ctx, formatTable(['at', 'principal', 'request', 'status', 'code'], page.events.map((e) => [e.at, e.principal, `${e.method} ${e.path}`, e.status, e.code ?? '-'])))
      if (page.nextCursor) ctx.err.write(`more: --cursor ${page.nextCursor}\n`)
      return
    }
    default:
      throw usageError(PROJECTS_USAGE)
  }
}

/** `imagetune keys …`: a project's keys; `create` prints the key once, on stdout alone, for `$(…)`. */
export async function keysCommand(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args
  switch (sub) {
    case 'ls': {
      if (!rest[0]) throw usageError(KEYS_USAGE)
      const { keys } = await ctx.api.request<{ keys: KeyListing[] }>('GET', path('projects', rest[0], 'keys'))
      print(ctx, formatTable(['id', 'name', 'scopes', 'created', 'last used'], keys.map((k) => [k.id, k.name ?? '-', k.scopes.join('+'), k.createdAt, k.lastUsedAt ?? 'never'])))
      return
    }
    case 'create': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { scopes: { type: 'string' }, name: { type: 'string' } } })
      if (positionals.length !== 1 || !values.scopes) throw usageError(KEYS_USAGE)
      const scopes = values.scopes.split(/[,+]/).map((s) => s.trim()).filter(Boolean)
      const created = await ctx.api.request<KeyListing & { key: string }>('POST', path('projects', positionals[0]!, 'keys'), { json: { scopes, ...(values.name && { name: values.name }) } })
      ctx.err.write(`key ${created.id} (${created.scopes.join('+')}) for project ${positionals[0]}; shown this once:\n`)
      print(ctx, created.key)
      return
    }
    case 'revoke':
      if (rest.length !== 2) throw usageError(KEYS_USAGE)
      await ctx.api.request('DELETE', path('projects', rest[0]!, 'keys', rest[1]!))
      print(ctx, `revoked key ${rest[1]}`)
      return
    default:
      throw usageError(KEYS_USAGE)
  }
}

/** `imagetune whoami`: the project and scopes of IMAGETUNE_API_KEY. */
export async function whoamiCommand(ctx: CommandContext): Promise<void> {
  const me = await ctx.api.request<WhoAmI>('GET', '/whoami')
  print(ctx, `project: ${me.project.name} (${me.project.id})`)
  print(ctx, `key:     ${me.principal}${me.open ? ' (the API runs open: no keys configured)' : ''}`)
  print(ctx, `scopes:  ${me.scopes.join(' ')}`)
}
