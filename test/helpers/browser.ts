import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { testIf } from './required.js'

/** Debian's chromium, which `.ci/run` installs; playwright-core cannot download a browser here. */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((file) => existsSync(file))

/** Headless, and none of the background connections this closed network refuses. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** `test` where chromium is installed; a failing test in CI or as root, else a skip with a warning (see `testIf`). */
export function browserTestFor(file: string): typeof test {
  return testIf(CHROMIUM !== undefined, `${file}: no chromium at /usr/bin/chromium (apt-get install -y chromium; .ci/run does)`)
}

/** Every console error and uncaught exception of the page; tests end by asserting there were none. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = []
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
  page.on('pageerror', (err) => errors.push(err.message))
  return errors
}
