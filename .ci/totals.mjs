// The totals line of a jest --json report: `N passed, N failed, N skipped`. A suite that failed to run counts as a
// failure; skipped counts tests skipped or todo, so a test that did not run is never hidden in the totals.
import { readFileSync } from 'node:fs'

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const failed = report.numFailedTests + report.numRuntimeErrorTestSuites
const skipped = report.numPendingTests + (report.numTodoTests ?? 0)
console.log(`${report.numPassedTests} passed, ${failed} failed, ${skipped} skipped`)
