/**
 * The dashboard is plain ES modules that the browser loads as they are, with no build step. TypeScript's checker
 * reads them through `// @ts-check` and JSDoc, with the API's shapes from ui/api-types.js (generated from the
 * OpenAPI document), under the rules in ui/tsconfig.json, which editors read too.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** tsc's exit code and output; a failed check is an answer here, not an exception. */
function tsc(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(path.join(REPO, 'node_modules/.bin/tsc'), args, { cwd: REPO }, (err, stdout) => resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, stdout }))
  })
}

test('every ui module asks for checking, is checked by ui/tsconfig.json, and passes', async () => {
  const modules = (await readdir(path.join(REPO, 'ui'))).filter((name) => name.endsWith('.js')).sort()
  expect(modules.length).toBeGreaterThan(10)
  const unmarked = []
  for (const name of modules) if (!(await readFile(path.join(REPO, 'ui', name), 'utf8')).startsWith('// @ts-check\n')) unmarked.push(name)
  expect(unmarked).toEqual([])

  const { code, stdout } = await tsc(['-p', 'ui/tsconfig.json', '--listFiles'])
  expect(stdout.split('\n').filter((line) => line.includes('error TS'))).toEqual([])
  expect(code).toBe(0)
  // By name, not by full path: tsc prints real paths, and the checkout's may run through a symbolic link.
  const checked = stdout.split('\n').filter((file) => /\/ui\/[^/]+\.js$/.test(file))
  expect(checked.map((file) => path.basename(file)).sort()).toEqual(modules)
})
