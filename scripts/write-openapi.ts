/**
 * `npm run openapi`: writes openapi.yaml from the route schemas (the spec test compares against it), and the
 * dashboard's JSDoc types (ui/api-types.js) from that document.
 */
import { writeFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { openapiYaml } from '../src/http/openapi-document.js'
import { uiTypesModule } from '../src/http/ui-types.js'

const yaml = await openapiYaml()
await writeFile(new URL('../openapi.yaml', import.meta.url), yaml)
await writeFile(new URL('../ui/api-types.js', import.meta.url), uiTypesModule(parse(yaml)))
console.log('wrote openapi.yaml and ui/api-types.js')
