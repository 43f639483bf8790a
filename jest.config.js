/** Unit tests run in-band on plain TypeScript; integration tests start real services (see test/integration). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // test/e2e: long end-to-end CLI suites, run by `npm run test:e2e` (CI runs them as a step of their own).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/'],
  // Plugins import the API by package name (as in a user's repository); here that is this checkout.
  moduleNameMapper: { '^hwnas/plugins$': '<rootDir>/plugins/index.ts', '^hwnas$': '<rootDir>/dsl/index.ts' },
  testTimeout: 120_000,
  maxWorkers: 1,
  globalSetup: '<rootDir>/test/support/temp-root-setup.js',
  globalTeardown: '<rootDir>/test/support/temp-root-teardown.js',
};
