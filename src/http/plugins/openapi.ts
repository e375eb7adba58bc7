import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

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
          description: 'Upload a labelled image set, fine-tune a pretrained CNN with TensorFlow.js, serve predictions.',
        },
        tags: [
          { name: 'datasets', description: 'ImageFolder archives, validated and stored' },
          { name: 'jobs', description: 'Training jobs on the BullMQ queue' },
          { name: 'models', description: 'Trained classifiers and their files' },
          { name: 'predict', description: 'Predictions from a trained model' },
          { name: 'ops', description: 'Health and readiness' },
        ],
      },
    })
  },
  { name: 'openapi' },
)
