/**
 * Tests that need something the machine may lack (chromium, mount rights). A developer's laptop skips them with a
 * warning; CI (`CI=true`) and root, where `.ci/run` installs chromium and a container may mount, must run them: there
 * a missing requirement fails the test instead of skipping it silently.
 */
export const MUST_RUN = process.env.CI === 'true' || process.getuid?.() === 0

const failing = (missing: string) => () => {
  throw new Error(`${missing}: required when CI=true or running as root, so this test does not skip`)
}

/** `test` when `available`; otherwise a failing test where it must run, else `test.skip` with a warning. */
export function testIf(available: boolean, missing: string): typeof test {
  if (available) return test
  if (MUST_RUN) return ((name: string, _fn: unknown, timeout?: number) => test(name, failing(missing), timeout)) as unknown as typeof test
  console.warn(`skipped: ${missing}`)
  return test.skip
}

/** `describe` when `available`; otherwise one failing test where it must run, else `describe.skip` with a warning. */
export function describeIf(available: boolean, missing: string): typeof describe {
  if (available) return describe
  if (MUST_RUN) return ((name: string) => describe(name, () => test('has what it needs', failing(missing)))) as unknown as typeof describe
  console.warn(`skipped: ${missing}`)
  return describe.skip
}
