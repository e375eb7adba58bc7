/**
 * Layers import downward only (STYLE.md §2): entry → http / workers / cli → services → queue / ml / storage / net →
 * datasets / contract / metrics → config, errors, logger. Modules of one layer do not import another module of the
 * same layer (ml and storage, say, stay apart), and nothing but the entry imports http. Type-only imports count:
 * a shape one layer shares with another belongs in src/contract.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Layer of each module group, highest first; a group is a folder under src/ (or workers/), or a file directly in src/. */
const LAYERS: Record<string, number> = {
  main: 5, // the process entry: builds the API and the embedded worker
  http: 4,
  workers: 4,
  cli: 4,
  services: 3,
  queue: 2,
  ml: 2,
  storage: 2,
  net: 2,
  datasets: 1,
  contract: 1,
  metrics: 1, // the registry any layer counts into
  'redis-server': 1,
  shutdown: 1,
  config: 0,
  errors: 0,
  logger: 0,
  'sibling-module': 0,
  'atomic-write': 0,
}

function group(file: string): string {
  const [top, second] = path.relative(ROOT, file).split(path.sep)
  if (top === 'workers') return 'workers'
  return second!.replace(/\.(ts|mts|mjs|js)$/, '')
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sources(full)
    return /\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : []
  })
}

/**
 * Every relative import of a file (static, dynamic, side-effect, `export … from`, type-only alike), resolved to a
 * path. Read with patterns, since TypeScript 7's compiler has no JavaScript API; comments are dropped first so a
 * JSDoc example is not taken for an import.
 */
function imports(file: string): string[] {
  const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const specs = [
    ...code.matchAll(/\b(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g),
    ...code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
  ].map((m) => m[1]!)
  return specs.filter((spec) => spec.startsWith('.')).map((spec) => path.resolve(path.dirname(file), spec))
}

test('src/ and workers/ import downward only', () => {
  const files = [...sources(path.join(ROOT, 'src')), ...sources(path.join(ROOT, 'workers'))]
  expect(files.length).toBeGreaterThan(50) // the walk found the code
  expect(files.reduce((n, f) => n + imports(f).length, 0)).toBeGreaterThan(200) // and the parser found imports
  const offenders: string[] = []
  const unplaced = new Set<string>()
  for (const file of files) {
    const from = group(file)
    if (LAYERS[from] === undefined) unplaced.add(from)
    for (const target of imports(file)) {
      const to = group(target)
      if (LAYERS[to] === undefined) unplaced.add(to)
      if (from === to || LAYERS[from] === undefined || LAYERS[to] === undefined) continue
      if (LAYERS[to]! >= LAYERS[from]!) {
        offenders.push(`${path.relative(ROOT, file)} (${from}) imports ${path.relative(ROOT, target).replace(/\.js$/, '.ts')} (${to})`)
      }
    }
  }
  // A new folder or top-level file gets a layer here before it is used.
  expect([...unplaced]).toEqual([])
  expect(offenders).toEqual([])
})
