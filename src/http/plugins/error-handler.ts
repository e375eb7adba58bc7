import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, HTTP_STATUS, type ErrorCode } from '../../errors.js'

/** Fastify's own 4xx errors (parsers, limits) mapped onto our codes, so every error body has one shape. */
const FASTIFY_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'VALIDATION',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
}

/** Fastify's code for a body over the parser's bodyLimit. */
const BODY_TOO_LARGE = 'FST_ERR_CTP_BODY_TOO_LARGE'

function errorBody(code: ErrorCode, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } }
}

/** The only place an error code becomes an HTTP status. */
export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler<AppError | FastifyError>((err, request, reply) => {
      if (err instanceof AppError) {
        // A dependency down: the answer says what and its cause's code; the log says where (the error's cause).
        if (HTTP_STATUS[err.code] >= 500) request.log.error({ err }, err.message)
        return reply.code(HTTP_STATUS[err.code]).send(errorBody(err.code, err.message, err.details))
      }
      if (err.validation) {
        return reply.code(400).send(errorBody('VALIDATION', err.message, err.validation.map((v) => ({ path: v.instancePath, message: v.message }))))
      }
      if (err.code === BODY_TOO_LARGE) {
        // Two body limits exist; name the one this body ran into.
        const json = /json/i.test(request.headers['content-type'] ?? '')
        const limit = json ? 'MAX_JSON_BYTES' : 'MAX_IMAGE_BYTES'
        return reply.code(413).send(errorBody('PAYLOAD_TOO_LARGE', err.message, { limit, max: request.server.config[limit] }))
      }
      const status = err.statusCode ?? 500
      const code = FASTIFY_STATUS_CODES[status]
      if (code) return reply.code(status).send(errorBody(code, err.message))
      request.log.error({ err }, 'unhandled error')
      return reply.code(500).send(errorBody('INTERNAL', 'Internal Server Error'))
    })
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url}`)),
    )
  },
  { name: 'error-handler' },
)
