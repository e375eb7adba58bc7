/**
 * CI's reporting: `.ci/run`'s totals line counts skipped tests, and under CI=true a test whose requirement is missing
 * (chromium, mount rights) fails instead of skipping silently. Runs jest on a fixture in a child process.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

test('a missing requirement fails under CI=true, and the totals line shows passed, failed and skipped', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imagetune-ci-'))
  try {
    const report = path.join(dir, 'report.json')
    const jest = spawnSync(
      process.execPath,
      ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js', '--testMatch', '**/test/fixtures/ci/required.fixture.ts', '--json', `--outputFile=${report}`],
      { cwd: REPO, env: { ...process.env, CI: 'true' }, encoding: 'utf8' },
    )
    expect(jest.status).toBe(1)
    expect(jest.stderr).toContain('required when CI=true or running as root')
    const totals = spawnSync(process.execPath, ['.ci/totals.mjs', report], { cwd: REPO, encoding: 'utf8' })
    expect(totals.stdout.trim()).toBe('1 passed, 1 failed, 1 skipped')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}, 60_000)
