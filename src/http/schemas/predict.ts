import { Type } from 'typebox'

export const PredictionsSchema = Type.Array(Type.Object({ label: Type.String(), score: Type.Number() }))

const model = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' })
const topK = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 3 }))

export const PredictQuerySchema = Type.Object({ model, topK }, { additionalProperties: false })
export const PredictUrlQuerySchema = Type.Object({ model, topK, url: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false })

export const PredictResponseSchema = Type.Union([
  Type.Object({ model: Type.String(), predictions: PredictionsSchema, latencyMs: Type.Number() }),
  Type.Object({ model: Type.String(), results: Type.Array(Type.Object({ predictions: PredictionsSchema })), latencyMs: Type.Number() }),
])
