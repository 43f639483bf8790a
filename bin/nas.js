#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm run build` (done by infra/setup.sh) makes it.
require('../dist/cli/main.js').main(process.argv.slice(2));
