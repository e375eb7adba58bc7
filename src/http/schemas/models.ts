import { Type } from 'typebox'
import { ALIAS_PATTERN } from '../../storage/aliases.js'
import { IdSchema } from './common.js'

export const AliasParamsSchema = Type.Object({ name: Type.String({ pattern: ALIAS_PATTERN }) })
export const AliasBodySchema = Type.Object({ modelId: IdSchema }, { additionalProperties: false })
export const AliasSchema = Type.Object({ name: Type.String(), modelId: Type.String() })
export const AliasListSchema = Type.Object({ aliases: Type.Array(AliasSchema) })

/** A display name: what people call the model in the dashboard; ids stay the handle for the API. */
export const RenameModelBodySchema = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: 'display name, 1–100 characters, not only spaces' }) },
  { additionalProperties: false },
)
