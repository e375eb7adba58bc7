import { Type } from 'typebox'

export const DatasetSummarySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  imageCount: Type.Integer(),
  hasSplit: Type.Boolean(),
  classes: Type.Array(Type.Object({ name: Type.String(), count: Type.Integer() })),
  warnings: Type.Array(Type.String()),
})

export const DatasetSchema = Type.Object({
  ...DatasetSummarySchema.properties,
  rejected: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() })),
})
