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
