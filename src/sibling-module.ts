import path from 'node:path'

/**
 * The module `name` next to the module at `from` (its `import.meta.url`), with the caller's own extension: `.js`
 * when running the build in `dist/`, `.ts` when a test runs the sources. For entries that Node loads by path
 * (worker threads, BullMQ's sandboxed processor), which no bundler or loader rewrites.
 */
export function siblingModule(name: string, from: string): URL {
  return new URL(`${name}${path.extname(new URL(from).pathname)}`, from)
}

/** Whether `entry` is TypeScript source, which only tests run (through tsx's hooks, a dev dependency). */
export function isTypeScript(entry: URL | string): boolean {
  return (typeof entry === 'string' ? entry : entry.pathname).endsWith('.ts')
}
