#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm run build` (done by infra/setup.sh) makes it.
// Exit explicitly once the command is done: native handles (Temporal's runtime, TensorFlow's thread
// pool) can keep the event loop alive after every connection is closed.
require('../dist/cli/main.js')
  .main(process.argv.slice(2))
  .then(() => process.exit());
