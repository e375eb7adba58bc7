import { Type } from 'typebox'

export const DatasetSummarySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  imageCount: Type.Integer(),
  hasSplit: Type.Boolean(),
  classes: Type.Array(Type.Object({ name: Type.String(), count: Type.Integer() })),
  warnings: Type.Array(Type.String()),
  parentId: Type.Optional(Type.String({ description: 'The dataset this one is a revision of; absent on uploads.' })),
})

export const DatasetSchema = Type.Object({
  ...DatasetSummarySchema.properties,
  rejected: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() })),
})

/** A manifest image path, `images/<class>/<file>`. */
const ImagePathSchema = Type.String({ minLength: 1, maxLength: 1024, description: '`images/<class>/<file>` as in the dataset' })

export const RevisionSchema = Type.Object(
  {
    move: Type.Optional(
      Type.Array(
        Type.Object(
          { path: ImagePathSchema, to: Type.String({ minLength: 1, maxLength: 255, description: 'A class name, existing or new' }) },
          { additionalProperties: false },
        ),
        { maxItems: 100_000 },
      ),
    ),
    drop: Type.Optional(Type.Array(ImagePathSchema, { maxItems: 100_000 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "@defaultValue the parent's name + ' (revised)'" })),
  },
  { additionalProperties: false },
)
