#!/usr/bin/env bash
# Runs a test command the way npm's test scripts do (package.json "test", "test:integration",
# "test:e2e", "test:faults"):
#   1. installs what only the tests need (infra/setup.sh --test-tools: MinIO, Chromium; a second
#      when they are in place, so `npm test` works right after the README's first command);
#   2. puts setup's Node.js 22 (.tools/node, there when the system node is older) first on PATH, so
#      npm, tsc, jest, tsx and the CLI processes the tests start (process.execPath) all run on it;
#   3. builds the TypeScript (the tests run the compiled CLI);
#   4. runs the command in its place (exec), so its exit status and signals are the command's own.
#
#   infra/run-tests.sh jest test/unit/core
set -euo pipefail

[ "$#" -gt 0 ] || { echo "usage: infra/run-tests.sh COMMAND [ARGS...]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$root/infra/setup.sh" --test-tools

if [ -x "$root/.tools/node/bin/node" ]; then
  export PATH="$root/.tools/node/bin:$PATH"
fi
# npm puts node_modules/.bin on PATH for its scripts; this makes a direct call work the same.
export PATH="$root/node_modules/.bin:$PATH"
echo "tests run on node $(node --version) ($(command -v node))"

cd "$root"
npm run --silent build
exec "$@"
