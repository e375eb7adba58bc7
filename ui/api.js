// @ts-check
/** The public HTTP API, as the dashboard calls it: every request carries the key kept in this browser. */

/** @typedef {import('./api-types.js').ErrorBody} ErrorBody */
/** @typedef {import('./api-types.js').Job} Job */

const KEY = 'imagetune.apiKey'

export const apiKey = {
  get: () => localStorage.getItem(KEY) ?? '',
  /** @param {string} value the key, or '' to forget it */
  set: (value) => (value ? localStorage.setItem(KEY, value) : localStorage.removeItem(KEY)),
}

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status; 0 when no answer came
   * @param {string} code the API's error code (`MODEL_NOT_FOUND`…), or `HTTP_<status>` when it sent none
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

/** @returns {Record<string, string>} */
export function authHeaders() {
  const key = apiKey.get()
  return key ? { authorization: `Bearer ${key}` } : {}
}

/**
 * @param {number} status
 * @param {unknown} data the answer's JSON, an ErrorBody when the server wrote it
 * @param {string} fallback the message when the answer carries none
 */
function failure(status, data, fallback) {
  const error = /** @type {Partial<ErrorBody> | null} */ (data)?.error
  const err = new ApiError(status, error?.code ?? `HTTP_${status}`, error?.message ?? fallback, error?.details)
  // The page asks for a key when the server wants one; a 403 about something else (a refused URL) is no key matter.
  if (status === 401 || (status === 403 && err.code === 'FORBIDDEN')) dispatchEvent(new CustomEvent('imagetune:auth', { detail: err }))
  return err
}

/**
 * JSON in (plain objects), JSON out; throws ApiError with the API's code and message. The caller names the answer's
 * type with an `@type` from api-types.js, which `npm run openapi` writes from the server's OpenAPI document.
 * @template T
 * @param {string} path
 * @param {{ method?: string, body?: unknown, headers?: Record<string, string>, signal?: AbortSignal }} [init]
 * @returns {Promise<T>} null where the answer has no body (204)
 */
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const all = { ...authHeaders(), ...headers }
  // A form or a file carries its own content type; anything else is sent as JSON.
  const sentAsIs = body === undefined || body instanceof FormData || body instanceof Blob
  if (!sentAsIs) all['content-type'] = 'application/json'
  const response = await fetch(path, { method, body: sentAsIs ? body : JSON.stringify(body), headers: all, signal })
  const text = await response.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  }
  if (!response.ok) throw failure(response.status, data, response.statusText)
  return data
}

/**
 * A file as a blob: URL (thumbnails, downloads), fetched with the key that an <img> or <a> could not send.
 * @param {string} path
 * @param {AbortSignal} [signal]
 */
export async function blobUrl(path, signal) {
  const response = await fetch(path, { headers: authHeaders(), signal })
  if (!response.ok) {
    await response.body?.cancel()
    throw failure(response.status, null, response.statusText)
  }
  return URL.createObjectURL(await response.blob())
}

/**
 * POST multipart through XMLHttpRequest, the one browser API that reports upload progress (0–1).
 * @template T the answer's type, as with `api`
 * @param {string} path
 * @param {FormData} form
 * @param {(share: number) => void} onProgress
 * @returns {Promise<T>}
 */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', path)
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value)
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total)
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the upload did not reach the server'))
    xhr.onload = () => {
      let data = null
      try {
        data = JSON.parse(xhr.responseText)
      } catch {
        data = null
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data)
      else reject(failure(xhr.status, data, xhr.statusText))
    }
    xhr.send(form)
  })
}

/** @type {ReadonlySet<string>} */
export const TERMINAL = new Set(['completed', 'failed', 'cancelled'])
/** @type {(ms: number, signal?: AbortSignal) => Promise<void>} */
const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms)
  signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
})

/**
 * Feeds each `data:` block of a text/event-stream to `onEvent` until the stream ends or `onEvent` returns true.
 * @param {ReadableStream<Uint8Array<ArrayBuffer>>} body
 * @param {(data: string) => Promise<boolean>} onEvent
 */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value.replace(/\r\n?/g, '\n')
    let end
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = block.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n')
      if (data && (await onEvent(data))) return reader.cancel()
    }
  }
}

/**
 * A job document from an event's data; a thinner payload is a hint to read the document itself.
 * @param {string} id
 * @param {string} data
 * @param {AbortSignal} [signal]
 * @returns {Promise<Job>}
 */
async function jobFromEvent(id, data, signal) {
  try {
    const job = JSON.parse(data)
    if (job && typeof job.status === 'string' && job.progress) return job
  } catch {
    // not JSON: fall through to a read
  }
  return api(`/jobs/${encodeURIComponent(id)}`, { signal })
}

/**
 * Calls `onJob` with each new state of job `id` until it ends or `signal` aborts. Uses the live stream
 * `GET /jobs/:id/events` where the server's OpenAPI document lists it (read with fetch, not EventSource, so the
 * key header goes along), and polls `GET /jobs/:id` once a second where it does not, or once the stream drops.
 * @param {string} id
 * @param {(job: Job) => void} onJob
 * @param {AbortSignal} [signal]
 */
export async function watchJob(id, onJob, signal) {
  /** @type {Job | undefined} */
  let last
  /** @param {Job} job */
  const take = (job) => {
    last = job
    onJob(job)
    return TERMINAL.has(job.status)
  }
  // Asking the server's description first keeps an older server's 404 out of the browser console.
  if ((await features()).events) {
    try {
      const response = await fetch(`/jobs/${encodeURIComponent(id)}/events`, { headers: { ...authHeaders(), accept: 'text/event-stream' }, signal })
      if (response.ok && response.body && (response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        await readEvents(response.body, async (data) => take(await jobFromEvent(id, data, signal)))
      } else {
        await response.body?.cancel()
      }
    } catch (err) {
      if (signal?.aborted) return
      if (err instanceof ApiError) throw err
    }
  }
  while (!signal?.aborted && !(last && TERMINAL.has(last.status))) {
    if (take(await api(`/jobs/${encodeURIComponent(id)}`, { signal }))) return
    await sleep(1000, signal)
  }
}

/**
 * A JSON Schema node of that document, as far as the job form reads it.
 * @typedef {{
 *   type?: string | string[], properties?: Record<string, Schema>, anyOf?: Schema[], oneOf?: Schema[], const?: unknown, enum?: unknown[],
 *   default?: unknown, minimum?: number, exclusiveMinimum?: number, maximum?: number, exclusiveMaximum?: number, pattern?: string,
 *   maxLength?: number, description?: string,
 * }} Schema
 */
/**
 * The parts of an OpenAPI document the dashboard reads.
 * @typedef {{ paths?: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: Schema }> } }>> }} OpenApiDocument
 */
/** @type {Promise<OpenApiDocument | null> | undefined} */
let openapi
/**
 * The server's own OpenAPI document (open, no key): the job form reads its options and defaults from it.
 * @returns {Promise<OpenApiDocument | null>}
 */
export function apiDescription() {
  openapi ??= fetch('/docs/openapi.json').then((r) => (r.ok ? r.json() : null)).catch(() => null)
  return openapi
}

/** What this server can do beyond the first release, read from its OpenAPI document. */
export async function features() {
  const paths = (await apiDescription())?.paths ?? {}
  return {
    events: Boolean(paths['/jobs/{id}/events']?.get),
    cancel: Boolean(paths['/jobs/{id}']?.delete),
    revisions: Boolean(paths['/datasets/{id}/revisions']?.post),
  }
}
