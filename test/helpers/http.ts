/** One answer of the API as tests read it: the body parsed as JSON, or the text when it is not JSON. */
export interface JsonResponse {
  status: number
  headers: Headers
  body: any
}

export async function json(response: Response): Promise<JsonResponse> {
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: response.status, headers: response.headers, body }
}

/** `method base+path`, with `key` as a Bearer token when given and `body` sent as JSON when given. */
export async function callJson(base: string, method: string, path: string, key?: string, body?: unknown): Promise<JsonResponse> {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  return json(await fetch(`${base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) }))
}
