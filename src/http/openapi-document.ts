import { loadConfig } from '../config.js'
import { createLogger } from '../logger.js'
import { buildApp } from './app.js'

/** The OpenAPI document of the routes as built, in YAML. Needs no Redis: the app is readied, never started. */
export async function openapiYaml(): Promise<string> {
  const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent', IMAGETUNE_BACKEND: 'cpu' }), createLogger('silent', 'openapi'))
  try {
    await app.ready()
    return app.swagger({ yaml: true })
  } finally {
    await app.close()
  }
}
