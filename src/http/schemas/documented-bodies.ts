import { RevisionSchema } from '../../contract/datasets.js'

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

export const BaseUploadSchema = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['name', 'file'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'The base name, used as `baseModel` in jobs; send the fields before `file`.' },
          featureLayer: { type: 'string', maxLength: 256, description: 'LayersModel: layer to cut at (default: the last pooling/flatten layer). GraphModel: the node to mean-pool (required).' },
          inputSize: { type: 'string', pattern: '^[0-9]{2,4}$', description: 'Square input side in pixels (default: the model input shape; required when it is not fixed).' },
          preprocessing: { type: 'string', enum: ['scale_0_1', 'scale_-1_1', 'raw_0_255'], description: "Pixel scaling the model expects; default 'scale_0_1'." },
          file: binary('A .zip, .tar or .tar.gz of a tfjs model: model.json and its weight files side by side (one wrapping folder allowed)'),
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

export const RevisionBodySchema = {
  content: {
    'application/json': { schema: RevisionSchema },
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['add', 'to'],
        properties: {
          add: {
            type: 'array',
            items: binary('An image file; repeat the `add` field for several. Validated like an archive image, up to 64 MiB each'),
            description: 'Images to add to class `to`: at most MAX_DATASET_IMAGES files, MAX_UPLOAD_BYTES in all',
          },
          to: { type: 'string', minLength: 1, maxLength: 255, description: 'The class the images go to, existing or new' },
          move: { type: 'string', description: 'Optional: the JSON form\'s `move` array, as a JSON string' },
          drop: { type: 'string', description: 'Optional: the JSON form\'s `drop` array, as a JSON string' },
          name: { type: 'string', maxLength: 200, description: "@defaultValue the parent's name + ' (revised)'" },
        },
      },
    },
  },
}
