import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'

/**
 * `GET /metrics` on its own port, for a process without the API (a standalone worker); anything else is 404.
 * @returns the listening server; close it on shutdown
 */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') return void response.writeHead(404).end()
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => response.writeHead(500).end(err.message),
    )
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
  return server
}
