import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { AppError } from '../../errors.js'
import type { RevisionRequest } from '../../services/datasets.js'
import { DEFAULT_MAX_FILE_BYTES, type DatasetManifest } from '../../storage/datasets.js'
import { asStorageError } from '../../storage/storage-error.js'
import { asMultipartError } from '../multipart-errors.js'
import { saveUpload, uploadTooLarge } from '../save-upload.js'
import { errorResponses, IdParamsSchema, NoContentSchema, uploadTimeoutResponse } from '../schemas/common.js'
import { DatasetSchema, DatasetSummarySchema, RevisionSchema } from '../../contract/datasets.js'
import { DatasetUploadSchema, RevisionBodySchema } from '../schemas/documented-bodies.js'

/** The public view: the per-image list stays on disk, it can hold 100,000 entries. */
function datasetView({ images: _images, ...rest }: DatasetManifest) {
  return rest
}

/** `flowers.tar.gz` → `flowers`. */
function nameFromFilename(filename: string): string {
  return path.basename(filename).replace(/\.(zip|tar|tgz|tar\.gz)$/i, '') || 'dataset'
}

/** The text fields of the multipart revision form; its files go in `add`. */
const REVISION_FIELDS = ['to', 'move', 'drop', 'name']

/** `move` and `drop` of the multipart form, JSON strings, checked against the JSON form's schema. */
function revisionFields(fields: Map<string, string>): Static<typeof RevisionSchema> {
  const body: Record<string, unknown> = {}
  for (const key of ['move', 'drop'] as const) {
    const text = fields.get(key)
    if (text === undefined) continue
    try {
      body[key] = JSON.parse(text)
    } catch {
      throw new AppError('VALIDATION', `field "${key}" must be JSON, as in the JSON form of this route`)
    }
  }
  const name = fields.get('name')
  if (name !== undefined) body.name = name
  if (!Value.Check(RevisionSchema, body)) {
    const [first] = Value.Errors(RevisionSchema, body)
    throw new AppError('VALIDATION', `invalid revision field: ${first ? `${first.instancePath || '/'} ${first.message}` : 'bad value'}`)
  }
  return body as Static<typeof RevisionSchema>
}

const datasetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config, layout } = app
  const tooLarge = () => uploadTooLarge(config.MAX_UPLOAD_BYTES)

  app.post(
    '/datasets',
    {
      config: { rateLimitBucket: 'uploads' },
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
      return app.withUploadSlot(request, reply, receive)

      async function receive(idle: { stop(): void }) {
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

        const upload = await saveUpload(part, layout.uploads, '.upload', config.MAX_UPLOAD_BYTES)
        try {
          // The body is in: ingestion may take long with nothing on the wire, and is not the client's stall.
          idle.stop()
          const manifest = await request.services.datasets.create(upload, name)
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
          'A new dataset (new id, `parentId` = this one) with images moved to another class (`move: [{path, to}]`, `to` existing or new) and/or left out (`drop: [path]`); paths are `images/<class>/<file>` as in the dataset, the label issues and near-duplicates of a job name them the same way. The images are carried over by content, the parent stays untouched. 422 REVISION_INVALID, with `details.problems`, for an unknown or repeated path, an empty change, a move to the same class or a bad class name, or a class left with no image. The multipart/form-data form also adds images: files in `add` (repeat the field) for the class named in `to` (existing or new), with `move`/`drop` as JSON strings and `name` optional; each file is validated like an uploaded archive image, refused ones are listed under `rejected`, and all of them refused is 422 REVISION_INVALID with `details.rejected`. It takes an upload slot like POST /datasets (429, and 408 after UPLOAD_IDLE_TIMEOUT_MS with nothing sent).',
        params: IdParamsSchema,
        // Fastify validates the JSON form only; the multipart form is read part by part and checked in reviseWithFiles.
        body: { content: { 'application/json': { schema: RevisionSchema } } },
        documentedBody: RevisionBodySchema,
        response: { 201: DatasetSchema, ...errorResponses, 408: uploadTimeoutResponse },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const { datasets } = request.services
      let manifest: DatasetManifest
      if (request.isMultipart()) {
        // Known before the files are received, so a wrong id does not cost an upload.
        await datasets.get(id)
        manifest = await app.withUploadSlot(request, reply, (idle) => receiveRevision(request, idle, (revision) => datasets.revise(id, revision)))
      } else {
        manifest = await datasets.revise(id, request.body as Static<typeof RevisionSchema>)
      }
      request.log.info({ datasetId: manifest.id, parentId: id, images: manifest.imageCount, rejected: manifest.rejected.length }, 'dataset revised')
      reply.code(201).header('location', `/datasets/${manifest.id}`)
      return datasetView(manifest)
    },
  )

  /**
   * The multipart form of a revision: image files in `add` (each streamed to a temp file, at most
   * DEFAULT_MAX_FILE_BYTES like an archive member, MAX_UPLOAD_BYTES in all, MAX_DATASET_IMAGES files) for class `to`,
   * and `move`/`drop` as JSON strings, `name` as text, in any order. `revise` runs while the files are there.
   */
  async function receiveRevision(request: FastifyRequest, idle: { stop(): void }, revise: (revision: RevisionRequest) => Promise<DatasetManifest>): Promise<DatasetManifest> {
    const dir = path.join(layout.uploads, `${randomUUID()}.add`)
    try {
      const fields = new Map<string, string>()
      const files: { name: string; file: string }[] = []
      const rejected: { path: string; reason: string }[] = []
      let bytes = 0
      try {
        await mkdir(dir, { recursive: true })
        // A file over the per-file limit is cut short and marked `truncated` (rejected below, like a too-large archive
        // member) instead of failing the whole form; the plugin reads `throwFileSizeLimit` here though its types omit it.
        const options = {
          limits: { fileSize: DEFAULT_MAX_FILE_BYTES, files: config.MAX_DATASET_IMAGES, parts: config.MAX_DATASET_IMAGES + REVISION_FIELDS.length },
          throwFileSizeLimit: false,
        }
        const parts = request.parts(options)
        for await (const part of parts) {
          if (part.type === 'field') {
            if (!REVISION_FIELDS.includes(part.fieldname) || typeof part.value !== 'string') {
              throw new AppError('VALIDATION', `unknown multipart field "${part.fieldname}": send ${REVISION_FIELDS.map((f) => `"${f}"`).join(', ')} and files in "add"`)
            }
            fields.set(part.fieldname, part.value)
            continue
          }
          if (part.fieldname !== 'add') throw new AppError('VALIDATION', `files go in a field named "add", not "${part.fieldname}"`)
          const file = path.join(dir, String(files.length + rejected.length))
          await pipeline(part.file, createWriteStream(file))
          bytes += (await stat(file)).size
          if (bytes > config.MAX_UPLOAD_BYTES) throw tooLarge()
          const name = part.filename || 'image'
          if (part.file.truncated) {
            rejected.push({ path: name, reason: `file too large (limit ${DEFAULT_MAX_FILE_BYTES} bytes)` })
            await rm(file, { force: true })
          } else files.push({ name, file })
        }
      } catch (err) {
        throw asStorageError(asMultipartError(err))
      }
      idle.stop()
      if (files.length + rejected.length === 0) throw new AppError('VALIDATION', 'the multipart form adds images: send one or more files in a field named "add"')
      const to = fields.get('to')?.trim()
      if (!to) throw new AppError('VALIDATION', 'name the class the images go to in a field named "to"')
      return await revise({ ...revisionFields(fields), add: { to, files, rejected } })
    } finally {
      await rm(dir, { recursive: true, force: true }).catch((err: unknown) => request.log.warn({ err, dir }, 'upload not removed'))
    }
  }

  app.get('/datasets', { schema: { tags: ['datasets'], operationId: 'listDatasets', summary: 'List datasets', description: 'Every stored dataset, without its per-image list.', response: { 200: Type.Object({ datasets: Type.Array(DatasetSummarySchema) }) } } }, async (request) => ({
    datasets: await request.services.datasets.list(),
  }))

  app.get('/datasets/:id', { schema: { tags: ['datasets'], operationId: 'getDataset', summary: 'Get a dataset', description: 'Classes with image counts, rejected files and warnings.', params: IdParamsSchema, response: { 200: DatasetSchema, ...errorResponses } } }, async (request) => {
    return datasetView(await request.services.datasets.get(request.params.id))
  })

  app.delete('/datasets/:id', { schema: { tags: ['datasets'], operationId: 'deleteDataset', summary: 'Delete a dataset', description: '409 DATASET_IN_USE while a queued or running job uses it.', params: IdParamsSchema, response: { 204: NoContentSchema, ...errorResponses } } }, async (request, reply) => {
    await request.services.datasets.remove(request.params.id)
    return reply.code(204).send(null)
  })
}

export default datasetRoutes
