import { Type } from 'typebox'

export const PredictionsSchema = Type.Array(Type.Object({ label: Type.String(), score: Type.Number() }))

/** A model id or an alias (`PUT /models/aliases/:name`); ids and aliases share the same safe characters. */
const model = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$', description: 'model id or alias' })
const topK = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 3 }))
const threshold = Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'drop predictions scoring below this' }))

export const PredictQuerySchema = Type.Object({ model, topK, threshold }, { additionalProperties: false })
export const PredictUrlQuerySchema = Type.Object({ model, topK, threshold, url: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false })

/** Images one request may carry, as for multipart `image` parts (app.ts: `files: 16`). */
export const MAX_IMAGES_PER_REQUEST = 16

export const PredictJsonBodySchema = Type.Object(
  {
    images: Type.Array(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9+/]*={0,2}$', contentEncoding: 'base64' }), {
      minItems: 1,
      maxItems: MAX_IMAGES_PER_REQUEST,
    }),
  },
  { additionalProperties: false },
)

export const PredictResponseSchema = Type.Union([
  Type.Object({ model: Type.String(), predictions: PredictionsSchema, latencyMs: Type.Number() }),
  Type.Object({ model: Type.String(), results: Type.Array(Type.Object({ predictions: PredictionsSchema })), latencyMs: Type.Number() }),
])
