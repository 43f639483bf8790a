/**
 * Resuming from the newest checkpoint that verifies: a corrupt newest one is skipped with a
 * warning and the one before it used; pruning keeps one spare behind the newest.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { LocalArtifactStore } from '../../../artifacts';
import { pruneCheckpoints, restoreNewestCheckpoint } from '../../../activities/checkpoints';

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'nas-ckpt-'));
  return { root, store: new LocalArtifactStore(root) };
}

const key = (step: number) => `run/ckpt/step-${String(step).padStart(9, '0')}.ckpt`;

test('a corrupt newest checkpoint is skipped with a warning and the previous one restored', async () => {
  const { root, store } = setup();
  await store.put(key(10), 'ten');
  await store.put(key(20), 'twenty');
  // Flip the last byte of the newest file behind the store's back.
  const file = join(root, key(20));
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(file, bytes);

  const warnings: string[] = [];
  const logger = new DefaultLogger('WARN', (entry) => {
    if (entry.level === 'WARN') warnings.push(entry.message);
  });
  const env = new MockActivityEnvironment(undefined, { logger });
  const restored: string[] = [];
  const from = await env.run(() => restoreNewestCheckpoint(store, 'run/ckpt/', async (b) => void restored.push(new TextDecoder().decode(b))));
  expect(from).toBe(key(10));
  expect(restored).toEqual(['ten']);
  expect(warnings.join('\n')).toContain(`checkpoint ${key(20)} is unusable`);
});

test('no checkpoint: nothing restored; other restore errors are not swallowed', async () => {
  const { store } = setup();
  const env = new MockActivityEnvironment();
  expect(await env.run(() => restoreNewestCheckpoint(store, 'run/ckpt/', async () => undefined))).toBeUndefined();
  await store.put(key(5), 'x');
  await expect(env.run(() => restoreNewestCheckpoint(store, 'run/ckpt/', async () => Promise.reject(new Error('wrong model'))))).rejects.toThrow('wrong model');
});

test('pruning keeps the newest and one spare', async () => {
  const { store } = setup();
  for (const step of [10, 20, 30, 40]) await store.put(key(step), String(step));
  await pruneCheckpoints(store, 'run/ckpt/', key(40));
  expect(await store.list('run/ckpt/')).toEqual([key(30), key(40)]);
});
