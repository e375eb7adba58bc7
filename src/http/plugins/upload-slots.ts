import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import { idleTimeout } from '../idle-timeout.js'

/** What `receive` gets: `stop()` once the body is in, so the work after it is not counted as the client's stall. */
export interface UploadIdle {
  stop(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Runs `receive` in one of the upload slots: at most `MAX_CONCURRENT_UPLOADS` per process and
     * `MAX_CONCURRENT_UPLOADS_PER_CLIENT` per client (429), and a client that stops sending loses its slot (408).
     * Every route that takes a file body (datasets, revisions, bases) goes through it.
     */
    withUploadSlot<T>(request: FastifyRequest, reply: FastifyReply, receive: (idle: UploadIdle) => Promise<T>): Promise<T>
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    /** Uploads this process is ingesting now; per replica, like the disk and CPU they use. */
    let activeUploads = 0
    /** The same per client (API key or IP), so one cannot hold every slot. */
    const uploadsByClient = new Map<string, number>()

    app.decorate('withUploadSlot', async function withUploadSlot<T>(request: FastifyRequest, reply: FastifyReply, receive: (idle: UploadIdle) => Promise<T>): Promise<T> {
      if (activeUploads >= config.MAX_CONCURRENT_UPLOADS) {
        throw new AppError('TOO_MANY_UPLOADS', `${config.MAX_CONCURRENT_UPLOADS} uploads are being ingested already; retry shortly`, {
          limit: 'MAX_CONCURRENT_UPLOADS',
          max: config.MAX_CONCURRENT_UPLOADS,
        })
      }
      // Over the project's storage quota, the body is refused before a byte of it is read.
      const length = Number(request.headers['content-length'])
      await app.quotas.storage(request.principal.projectId, Number.isFinite(length) ? length : 0)
      const client = request.principal.id
      const mine = uploadsByClient.get(client) ?? 0
      if (mine >= config.MAX_CONCURRENT_UPLOADS_PER_CLIENT) {
        throw new AppError('TOO_MANY_UPLOADS', `${mine} uploads of yours are being ingested already; retry when one ends`, {
          limit: 'MAX_CONCURRENT_UPLOADS_PER_CLIENT',
          max: config.MAX_CONCURRENT_UPLOADS_PER_CLIENT,
        })
      }
      activeUploads += 1
      uploadsByClient.set(client, mine + 1)
      // A client that stops sending loses its slot: 408 and the connection closed, which ends receive() (its temp files
      // go in its own finally).
      const idle = idleTimeout(request.raw, config.UPLOAD_IDLE_TIMEOUT_MS)
      const receiving = receive(idle)
      try {
        return await Promise.race([receiving, idle.timedOut])
      } catch (err) {
        if (err instanceof AppError && err.code === 'REQUEST_TIMEOUT') {
          reply.header('connection', 'close')
          // Once the 408 is out the connection goes, even if the client keeps its end open; receive() then fails.
          reply.raw.once('finish', () => request.raw.destroy())
          receiving.catch(() => undefined) // nothing left to report
        }
        throw err
      } finally {
        idle.stop()
        activeUploads -= 1
        const left = (uploadsByClient.get(client) ?? 1) - 1
        if (left > 0) uploadsByClient.set(client, left)
        else uploadsByClient.delete(client)
      }
    })
  },
  { name: 'upload-slots', dependencies: ['auth', 'projects'] },
)
