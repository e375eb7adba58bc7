/** `npm run openapi`: writes openapi.yaml from the route schemas (the spec test compares against it). */
import { writeFile } from 'node:fs/promises'
import { openapiYaml } from '../src/http/openapi-document.js'

await writeFile(new URL('../openapi.yaml', import.meta.url), await openapiYaml())
console.log('wrote openapi.yaml')
