/** Native ESM (typebox 1.x ships ESM only); swc strips types, `tsc --noEmit` checks them. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Training tests start real processes and run real tfjs; one file at a time keeps 2 cores honest.
  maxWorkers: 1,
  testTimeout: 120_000,
}
