/** Unit tests run on plain TypeScript; integration tests start real services (see test/integration). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // test/e2e: long end-to-end CLI suites, run by `npm run test:e2e` (CI runs them as a step of their own).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/'],
  // Plugins import the API by package name (as in a user's repository); here that is this checkout.
  moduleNameMapper: { '^hwnas/plugins$': '<rootDir>/plugins/index.ts', '^hwnas$': '<rootDir>/dsl/index.ts' },
  testTimeout: 120_000,
  // Two suites at a time: an integration suite spends most of its time waiting on the processes it
  // started (servers coming up, workers polling, heartbeats timing out), so two of them on a 2-core
  // machine take half the wall time of one after the other (7.7 against 15.6 min for
  // test/integration, all passing). Each suite has its own servers on its own ports and its own
  // temp folders. The end-to-end suites run one at a time (package.json, test:e2e): they time what
  // a user sees after a Ctrl-C, which a second suite's training would delay.
  maxWorkers: 2,
  globalSetup: '<rootDir>/test/support/temp-root-setup.js',
  globalTeardown: '<rootDir>/test/support/temp-root-teardown.js',
};
