/** Jest global teardown: removes the run's temporary folder (temp-root-setup.js), unless NAS_KEEP_TEST_TMP=1. */
const { rmSync } = require('node:fs');

module.exports = function teardown() {
  const root = process.env.NAS_TEST_TMP;
  if (!root) return;
  if (process.env.NAS_KEEP_TEST_TMP === '1') {
    console.log(`\ntest folders kept in ${root}`);
    return;
  }
  // A child process still exiting may write a last file meanwhile: retry rather than fail the run.
  rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
};
