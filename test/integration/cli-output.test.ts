/**
 * What the compiled CLI prints reaches a pipe whole: a reader that is slow to start (a `jq` still
 * loading, a busy machine) must get the entire document, not the first 64 KiB the pipe buffered
 * before the process exited.
 */
import { spawnSync } from 'node:child_process';
import { NAS_BIN } from './support/cli';

test('a large --json output piped into a slow reader parses whole', () => {
  // The reader starts a second late, so everything past the pipe's buffer waits in the process.
  const piped = spawnSync('bash', ['-c', `"${process.execPath}" "${NAS_BIN}" arch describe efficientnet-b6 --resolution 528 --json | (sleep 1; cat)`], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(piped.status).toBe(0);
  expect(piped.stdout.length).toBeGreaterThan(65_536);
  const description = JSON.parse(piped.stdout) as { params?: unknown };
  expect(description).toEqual(expect.objectContaining({ params: expect.anything() }));
});
