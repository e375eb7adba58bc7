/**
 * Request bodies Fastify does not validate against a schema: multipart parts are read by the route as streams, and
 * raw images are bytes. They appear in the OpenAPI document through the route schema's `documentedBody` (see
 * plugins/openapi.ts); putting them under `body` would make Fastify validate the (absent) parsed body and reject
 * every upload.
 */
const binary = (description: string) => ({ type: 'string', contentMediaType: 'application/octet-stream', description })

export const DatasetUploadSchema = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: {
          name: { type: 'string', maxLength: 200, description: 'Dataset name; send it before `file`. Defaults to the archive name.' },
          file: binary('The archive: .zip, .tar or .tar.gz (detected by magic bytes), up to MAX_UPLOAD_BYTES'),
        },
      },
    },
  },
}

const rawImage = (type: string) => ({ schema: { type: 'string', contentMediaType: type, description: `One ${type} image, up to MAX_IMAGE_BYTES` } })

export const PredictBodySchema = {
  content: {
    'image/jpeg': rawImage('image/jpeg'),
    'image/png': rawImage('image/png'),
    'image/webp': rawImage('image/webp'),
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: {
          image: { type: 'array', maxItems: 16, items: binary('An image part; repeat the `image` field for several images'), description: 'One or more images, each up to MAX_IMAGE_BYTES' },
        },
      },
    },
  },
}
