import { Type } from 'typebox'

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
})

/** Our ids are lowercase UUIDs; the pattern also keeps `../` and friends out of any path. */
export const IdSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' })
export const IdParamsSchema = Type.Object({ id: IdSchema })

/** Error responses every route may give. */
export const NoContentSchema = Type.Null()

export const errorResponses = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  413: ErrorSchema,
  415: ErrorSchema,
  422: ErrorSchema,
  429: ErrorSchema,
  503: ErrorSchema,
  507: ErrorSchema,
}
