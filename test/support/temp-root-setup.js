/**
 * Jest global setup: every temporary folder a test makes (`os.tmpdir()`, for its artifacts, data
 * subsets and embedded Temporal databases, and that of the processes it starts) goes under one
 * folder per `jest` run, which temp-root-teardown.js removes. Without it every run of the suite
 * left dozens of folders behind in /tmp.
 *
 * Plain JavaScript, like jest.config.js: jest loads the global hooks in its own process, where the
 * `.ts` require hook that plugin tests install (plugins/ts-require.ts) is still registered after
 * their environment is torn down, and would take over a TypeScript teardown file.
 */
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = function setup() {
  const root = mkdtempSync(join(tmpdir(), 'nas-tests-'));
  process.env.NAS_TEST_TMP = root;
  // Read by os.tmpdir() here and inherited by jest's workers and every child process.
  process.env.TMPDIR = root;
};
