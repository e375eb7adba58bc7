import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '../../errors.js'
import type { DatasetManifest } from '../../storage/datasets.js'
import { asStorageError } from '../../storage/storage-error.js'
import { idleTimeout } from '../idle-timeout.js'
import { asMultipartError } from '../multipart-errors.js'
import { errorResponses, IdParamsSchema, NoContentSchema, uploadTimeoutResponse } from '../schemas/common.js'
import { DatasetSchema, DatasetSummarySchema, RevisionSchema } from '../schemas/datasets.js'
import { DatasetUploadSchema } from '../schemas/documented-bodies.js'

/** The public view: the per-image list stays on disk, it can hold 100,000 entries. */
function datasetView({ images: _images, ...rest }: DatasetManifest) {
  return rest
}

/** `flowers.tar.gz` → `flowers`. */
function nameFromFilename(filename: string): string {
  return path.basename(filename).replace(/\.(zip|tar|tgz|tar\.gz)$/i, '') || 'dataset'
}

/** @fastify/multipart's error when a file passes `limits.fileSize` while it streams. */
const FILE_TOO_LARGE = 'FST_REQ_FILE_TOO_LARGE'

const datasetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config, layout, datasets } = app
  /** Uploads this process is ingesting now; per replica, like the disk and CPU they use. */
  let activeUploads = 0
  /** The same per client (API key or IP), so one cannot hold every slot. */
  const uploadsByClient = new Map<string, number>()
  const tooLarge = () =>
    new AppError('PAYLOAD_TOO_LARGE', `upload exceeds ${config.MAX_UPLOAD_BYTES} bytes`, { limit: 'MAX_UPLOAD_BYTES', max: config.MAX_UPLOAD_BYTES })

  app.post(
    '/datasets',
    {
      schema: {
        tags: ['datasets'],
        operationId: 'createDataset',
        summary: 'Upload an ImageFolder archive',
        description:
          'multipart/form-data with the archive (.zip, .tar or .tar.gz; `<class>/<image>`, optional top folder, optional `train/` + `val/` folders) in a field named `file` and an optional `name` field before it. The archive streams to disk; unreadable images are listed under `rejected`. An upload that sends nothing for `UPLOAD_IDLE_TIMEOUT_MS` is aborted (408); one client holds at most `MAX_CONCURRENT_UPLOADS_PER_CLIENT` of the `MAX_CONCURRENT_UPLOADS` slots (429).',
        documentedBody: DatasetUploadSchema,
        response: { 201: DatasetSchema, ...errorResponses, 408: uploadTimeoutResponse },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send multipart/form-data with the archive in a field named "file"')
      }
      if (activeUploads >= config.MAX_CONCURRENT_UPLOADS) {
        throw new AppError('TOO_MANY_UPLOADS', `${config.MAX_CONCURRENT_UPLOADS} uploads are being ingested already; retry shortly`, {
          limit: 'MAX_CONCURRENT_UPLOADS',
          max: config.MAX_CONCURRENT_UPLOADS,
        })
      }
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
      // A client that stops sending loses its slot: 408 and the connection closed, which ends receive() (its temp file
      // goes in its own finally).
      const idle = idleTimeout(request.raw, config.UPLOAD_IDLE_TIMEOUT_MS)
      const receiving = receive()
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

      async function receive() {
        const part = await request.file({ limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 1 } }).catch((err: unknown) => {
          throw asMultipartError(err)
        })
        if (!part || part.fieldname !== 'file') {
          throw new AppError('VALIDATION', 'the multipart body needs the archive in a field named "file"')
        }
        const nameField = part.fields.name
        const name = nameField && 'value' in nameField && typeof nameField.value === 'string' && nameField.value.trim()
          ? nameField.value.trim().slice(0, 200)
          : nameFromFilename(part.filename)

        // The archive streams to disk: a 2 GiB upload never sits in memory.
        const upload = path.join(layout.uploads, `${randomUUID()}.upload`)
        try {
          try {
            await mkdir(layout.uploads, { recursive: true })
            await pipeline(part.file, createWriteStream(upload))
          } catch (err) {
            if ((err as { code?: string }).code === FILE_TOO_LARGE) throw tooLarge()
            throw asStorageError(asMultipartError(err))
          }
          if (part.file.truncated) throw tooLarge()
          // The body is in: ingestion may take long with nothing on the wire, and is not the client's stall.
          idle.stop()
          const manifest = await datasets.create(upload, {
            name,
            limits: {
              maxImages: config.MAX_DATASET_IMAGES,
              maxImagePixels: config.MAX_IMAGE_PIXELS,
              maxInflatedBytes: config.MAX_DATASET_INFLATED_BYTES,
              maxClasses: config.MAX_DATASET_CLASSES,
            },
          })
          request.log.info({ datasetId: manifest.id, images: manifest.imageCount, rejected: manifest.rejected.length }, 'dataset stored')
          // Returned, not sent: the answer leaves after the clean-up and the slot release below, so a client that
          // uploads again on receiving it is never refused by its own finished upload.
          reply.code(201).header('location', `/datasets/${manifest.id}`)
          return datasetView(manifest)
        } finally {
          // A failed clean-up must not replace the error the client needs to see (say, an unusable uploads/).
          await rm(upload, { force: true }).catch((err: unknown) => request.log.warn({ err, upload }, 'upload not removed'))
        }
      }
    },
  )

  app.post(
    '/datasets/:id/revisions',
    {
      schema: {
        tags: ['datasets'],
        operationId: 'reviseDataset',
        summary: 'Create a corrected version of a dataset',
        description:
          'A new dataset (new id, `parentId` = this one) with images moved to another class (`move: [{path, to}]`, `to` existing or new) and/or left out (`drop: [path]`); paths are `images/<class>/<file>` as in the dataset, the label issues and near-duplicates of a job name them the same way. The images are carried over by content, the parent stays untouched. 422 REVISION_INVALID, with `details.problems`, for an unknown or repeated path, an empty change, a move to the same class or a bad class name, or a class left with no image.',
        params: IdParamsSchema,
        body: RevisionSchema,
        response: { 201: DatasetSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { move, drop, name } = request.body
      const manifest = await datasets.revise(request.params.id, {
        change: { move, drop },
        name: name?.trim() || undefined,
        maxClasses: config.MAX_DATASET_CLASSES,
      })
      request.log.info({ datasetId: manifest.id, parentId: request.params.id, images: manifest.imageCount }, 'dataset revised')
      reply.code(201).header('location', `/datasets/${manifest.id}`)
      return datasetView(manifest)
    },
  )

  app.get('/datasets', { schema: { tags: ['datasets'], operationId: 'listDatasets', summary: 'List datasets', description: 'Every stored dataset, without its per-image list.', response: { 200: Type.Object({ datasets: Type.Array(DatasetSummarySchema) }) } } }, async () => ({
    datasets: await datasets.list(),
  }))

  app.get('/datasets/:id', { schema: { tags: ['datasets'], operationId: 'getDataset', summary: 'Get a dataset', description: 'Classes with image counts, rejected files and warnings.', params: IdParamsSchema, response: { 200: DatasetSchema, ...errorResponses } } }, async (request) => {
    const manifest = await datasets.get(request.params.id)
    if (!manifest) throw new AppError('DATASET_NOT_FOUND', `no dataset ${request.params.id}`)
    return datasetView(manifest)
  })

  app.delete('/datasets/:id', { schema: { tags: ['datasets'], operationId: 'deleteDataset', summary: 'Delete a dataset', description: '409 DATASET_IN_USE while a queued or running job uses it.', params: IdParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } }, async (request, reply) => {
    const { id } = request.params
    if (!(await datasets.get(id))) throw new AppError('DATASET_NOT_FOUND', `no dataset ${id}`)
    if (await app.trainingQueue.isDatasetInUse(id)) throw new AppError('DATASET_IN_USE', `dataset ${id} is used by a queued or running job`)
    await datasets.remove(id)
    return reply.code(204).send(null)
  })
}

export default datasetRoutes
