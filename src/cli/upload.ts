import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { authHeaders, describeHttpError, unreachable, type ApiClientOptions } from './api-client.js'
import { CliError, EXIT } from './cli-error.js'

export interface UploadOptions extends ApiClientOptions {
  /** The archive on disk. */
  file: string
  /** Form fields sent before the file (the API reads fields that precede it). */
  fields: Record<string, string>
  /** Called as bytes of the archive are sent. */
  onProgress(sent: number, total: number): void
}

/**
 * POSTs the archive to `/datasets` as multipart/form-data, streamed from disk with a known length, so a 2 GiB
 * dataset never sits in memory and progress is measured on what was actually written to the socket.
 */
export async function uploadArchive<T>(opts: UploadOptions): Promise<T> {
  const size = (await stat(opts.file)).size
  const boundary = `imagetune-${randomUUID()}`
  const fieldParts = Object.entries(opts.fields).map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  )
  const head = Buffer.from(
    `${fieldParts.join('')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path.basename(opts.file)}"\r\nContent-Type: application/zip\r\n\r\n`,
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const url = new URL('/datasets', opts.url)
  const transport = url.protocol === 'https:' ? https : http

  return new Promise<T>((resolve, reject) => {
    const request = transport.request(url, {
      method: 'POST',
      headers: {
        ...authHeaders(opts),
        accept: 'application/json',
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + size + tail.length),
      },
    })
    request.on('error', (err) => reject(unreachable(opts.url, { cause: err })))
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => {
        let body: unknown
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          body = undefined
        }
        const status = response.statusCode ?? 0
        if (status >= 200 && status < 300) resolve(body as T)
        else reject(new CliError(describeHttpError(status, body), EXIT.FAILED))
      })
    })
    request.write(head)
    let sent = 0
    const file = createReadStream(opts.file)
    file.on('data', (chunk) => {
      sent += chunk.length
      opts.onProgress(sent, size)
    })
    file.on('error', (err) => request.destroy(err))
    file.on('end', () => request.end(tail))
    file.pipe(request, { end: false })
  })
}
