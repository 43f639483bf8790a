#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm run build` (done by infra/setup.sh) makes it.
// Exit explicitly once the command is done: native handles (Temporal's runtime, TensorFlow's thread
// pool) can keep the event loop alive after every connection is closed. But only once stdout and
// stderr have drained: a pipe takes 64 KiB before writes queue in the process, and process.exit()
// drops the queue, so `nas ... --json | jq` would read a truncated document.
const drained = (stream) => new Promise((resolve) => (stream.writableLength === 0 ? resolve() : stream.write('', resolve)));
require('../dist/cli/main.js')
  .main(process.argv.slice(2))
  .then(() => Promise.all([drained(process.stdout), drained(process.stderr)]))
  .then(() => process.exit());
