import { CliError, EXIT } from './cli-error.js'

export interface ApiClientOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:3000`. */
  url: string
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey?: string | undefined
}

/** The error body every imagetune route answers with. */
interface ErrorBody {
  error?: { code?: string; message?: string }
}

/** `CODE: message (HTTP 404)` from an error answer, whatever its body. */
export function describeHttpError(status: number, body: unknown): string {
  const error = (body as ErrorBody | undefined)?.error
  return error?.code ? `${error.code}: ${error.message ?? ''} (HTTP ${status})` : `HTTP ${status}`
}

export function authHeaders(opts: ApiClientOptions): Record<string, string> {
  return opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}
}

export function unreachable(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  return new CliError(`cannot reach the imagetune API at ${url} (${cause?.code ?? cause?.message ?? (err as Error).message}); set IMAGETUNE_URL`, EXIT.UNREACHABLE)
}

export interface ApiClient {
  readonly url: string
  /** JSON in, JSON out; an error answer throws a CliError with the API's code and message. */
  request<T>(method: string, path: string, init?: { json?: unknown; body?: FormData }): Promise<T>
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const base = opts.url.replace(/\/+$/, '')
  return {
    url: base,
    async request<T>(method: string, path: string, init: { json?: unknown; body?: FormData } = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(opts) }
      let body: string | FormData | undefined = init.body
      if (init.json !== undefined) {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(init.json)
      }
      let response: Response
      try {
        response = await fetch(`${base}${path}`, { method, headers, body: body ?? null })
      } catch (err) {
        throw unreachable(base, err)
      }
      const text = await response.text()
      let parsed: unknown
      try {
        parsed = text ? JSON.parse(text) : undefined
      } catch {
        parsed = undefined
      }
      if (!response.ok) throw new CliError(describeHttpError(response.status, parsed), EXIT.FAILED)
      return parsed as T
    },
  }
}
