/**
 * The dashboard's JSDoc types (ui/api-types.js) are generated from openapi.yaml by `npm run openapi`: they must be
 * current, and valid for TypeScript's checker, which is what reads them (`// @ts-check`, no build step).
 */
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { uiTypesModule } from '../../src/http/ui-types.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

test('ui/api-types.js is what openapi.yaml generates (run `npm run openapi` after changing a route)', async () => {
  const document = parse(await readFile(`${REPO}/openapi.yaml`, 'utf8'))
  const generated = uiTypesModule(document)
  expect(await readFile(`${REPO}/ui/api-types.js`, 'utf8')).toBe(generated)
  // The field the dashboard once guessed wrong is a typed, top-level field (indented one level) of the model document.
  expect(generated).toMatch(/@typedef \{\{\n \* {3}id: string,\n(?: \* .*\n)*? \* {3}bestEpoch\?: number,\n(?: \* .*\n)*? \* \}\} Model\n/)
  // A shape another typedef names is written as that name, not copied: the list holds models.
  expect(generated).toContain(' * @typedef {{\n *   models: Array<Model>,\n * }} ModelList\n')
})

test('the typedefs type-check', () => {
  const tsc = `${REPO}/node_modules/.bin/tsc`
  const args = ['--ignoreConfig', '--noEmit', '--allowJs', '--checkJs', '--skipLibCheck', '--lib', 'es2022,dom', '--module', 'nodenext', '--target', 'es2022', 'ui/api-types.js']
  expect(() => execFileSync(tsc, args, { cwd: REPO, stdio: 'pipe' })).not.toThrow()
})
