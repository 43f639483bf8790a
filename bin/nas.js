#!/bin/sh
':' //; self="$(readlink -f "$0")"; node="${self%/bin/*}/.tools/node/bin/node"; [ -x "$node" ] || node=node; exec "$node" "$self" "$@"
// Line 2 is sh when this file runs as a program (./bin/nas.js, or `nas` through npm's link) and a
// string and a comment to node. It runs the CLI on the Node.js 22 that infra/setup.sh puts in
// .tools/node when the system node is older (else on `node` from PATH), by exec: one process, so
// Ctrl-C, other signals and the exit status are the CLI's own, as if node had been started
// directly. `node bin/nas.js` runs on the node it names (Node 20 works too).

// tfjs-node 4.22 calls util.isNullOrUndefined and util.isArray, which Node 22 deprecates at run time
// (DEP0051, DEP0044; Node 20 only in its docs): the one-time warnings they print on stderr name
// nothing a user can act on, so those two codes are dropped and every other warning stays.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const code = rest[0] !== null && typeof rest[0] === 'object' ? rest[0].code : rest[1];
  if (code === 'DEP0051' || code === 'DEP0044') return;
  return emitWarning.call(process, warning, ...rest);
};

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
