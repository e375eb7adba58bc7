import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { addExamples } from '../openapi-examples.js'

declare module 'fastify' {
  interface FastifySchema {
    /**
     * A request body for the OpenAPI document only, as `{ content: { <media type>: { schema } } }`: multipart and
     * raw image bodies are read by the route itself, so a `body` schema would make Fastify validate them.
     */
    documentedBody?: { content: Record<string, { schema: unknown }> }
  }
}

/**
 * The OpenAPI document is generated from the route schemas, so the contract cannot drift from the code;
 * `npm run openapi` writes it to openapi.yaml and a test fails when the committed file is stale.
 */
export default fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'imagetune',
          version: '0.1.0',
          description:
            'Upload a labelled image set, fine-tune a pretrained CNN with TensorFlow.js, serve predictions. Every error is `{"error": {"code", "message", "details"?}}`. Every response carries `x-request-id` (the one sent, or a generated one); the logs name it `reqId`.',
        },
        tags: [
          { name: 'datasets', description: 'ImageFolder archives, validated and stored' },
          { name: 'bases', description: 'Pretrained networks to transfer from: bundled ones and uploaded tfjs models' },
          { name: 'jobs', description: 'Training jobs on the BullMQ queue' },
          { name: 'models', description: 'Trained classifiers and their files' },
          { name: 'predict', description: 'Predictions from a trained model' },
          { name: 'ops', description: 'Health, readiness and metrics' },
          { name: 'auth', description: 'The calling key' },
          {
            name: 'projects',
            description:
              'Administration (the admin scope, API_KEYS only): projects (tenants that never see each other\'s data), their keys, quotas and audit trail',
          },
        ],
      },
      transform: ({ schema, url }) => {
        if (!schema?.documentedBody) return { schema, url }
        const { documentedBody, ...rest } = schema
        return { schema: { ...rest, body: documentedBody }, url }
      },
      transformObject: (documentObject) => ('openapiObject' in documentObject ? addExamples(documentObject.openapiObject) : documentObject.swaggerObject),
    })
  },
  { name: 'openapi' },
)
