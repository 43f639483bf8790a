/**
 * A symlink planted in a local artifact folder must not carry the store's writes (or reads) out of
 * it: keys are checked as strings, the links only on disk.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ArtifactKeyError } from '../../../artifacts';
import { LocalArtifactStore } from '../../../artifacts/local-store';

const base = mkdtempSync(join(tmpdir(), 'nas-store-links-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A store and, beside it (not in it), a folder a planted link points at. */
function setup() {
  const dir = join(base, String(n++));
  const root = join(dir, 'store');
  const outside = join(dir, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside);
  return { root, outside, store: new LocalArtifactStore(root) };
}

const refusal = (key: string) => expect.objectContaining({ name: 'ArtifactKeyError', message: expect.stringContaining(`invalid artifact key "${key}": a symlink leads outside the store`) });

it('put refuses a key whose folder is a symlink leading outside, and writes nothing there', async () => {
  const { root, outside, store } = setup();
  symlinkSync(outside, join(root, 'runs'));
  const err = await store.put('runs/alpha/pipeline.json', '{}').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ArtifactKeyError);
  expect(err).toEqual(refusal('runs/alpha/pipeline.json'));
  // Not even the folders mkdir would have made through the link.
  expect(readdirSync(outside)).toEqual([]);
});

it('put refuses a symlinked folder deeper down, and a dangling link that mkdir would follow', async () => {
  const { root, outside, store } = setup();
  mkdirSync(join(root, 'runs', 'a'), { recursive: true });
  symlinkSync(outside, join(root, 'runs', 'a', 'train'));
  await expect(store.put('runs/a/train/model.json', '{}')).rejects.toEqual(refusal('runs/a/train/model.json'));
  symlinkSync(join(outside, 'not-yet'), join(root, 'runs', 'b'));
  await expect(store.put('runs/b/x.json', '{}')).rejects.toEqual(refusal('runs/b/x.json'));
  expect(readdirSync(outside)).toEqual([]);
});

it('get, head, list and delete refuse keys that lead outside through a symlink', async () => {
  const { root, outside, store } = setup();
  writeFileSync(join(outside, 'secret.json'), '{"secret":true}');
  symlinkSync(outside, join(root, 'runs'));
  mkdirSync(join(root, 'other'));
  symlinkSync(join(outside, 'secret.json'), join(root, 'other', 'file.json'));
  await expect(store.get('runs/secret.json')).rejects.toEqual(refusal('runs/secret.json'));
  await expect(store.get('other/file.json')).rejects.toEqual(refusal('other/file.json'));
  await expect(store.head('other/file.json')).rejects.toEqual(refusal('other/file.json'));
  await expect(store.list('runs/')).rejects.toEqual(refusal('runs/'));
  await expect(store.delete('runs/secret.json')).rejects.toEqual(refusal('runs/secret.json'));
  expect(existsSync(join(outside, 'secret.json'))).toBe(true);
});

it('a put over a file symlink replaces the link, never the file it points at', async () => {
  const { root, outside, store } = setup();
  writeFileSync(join(outside, 'target.json'), 'untouched');
  mkdirSync(join(root, 'runs'));
  symlinkSync(join(outside, 'target.json'), join(root, 'runs', 'x.json'));
  await store.put('runs/x.json', '{"new":1}');
  expect(new TextDecoder().decode(await store.get('runs/x.json'))).toBe('{"new":1}');
  expect(readFileSync(join(outside, 'target.json'), 'utf8')).toBe('untouched');
});

it('symlinks that stay inside the store, and a store root that is itself a link, work as before', async () => {
  const { root, outside, store } = setup();
  mkdirSync(join(root, 'real'));
  symlinkSync(join(root, 'real'), join(root, 'runs'));
  await store.put('runs/a/b.json', '{"ok":1}');
  expect(new TextDecoder().decode(await store.get('runs/a/b.json'))).toBe('{"ok":1}');
  expect(await store.list('runs/')).toEqual(['runs/a/b.json']);

  const linkedRoot = join(outside, 'linked-store');
  symlinkSync(root, linkedRoot);
  const viaLink = new LocalArtifactStore(linkedRoot);
  await viaLink.put('runs/c.json', '{"ok":2}');
  expect(await viaLink.list('runs/')).toEqual(['runs/a/b.json', 'runs/c.json']);
  await viaLink.delete('runs/c.json');
  expect(await viaLink.head('runs/c.json')).toBeUndefined();
});

it('a store whose folder does not exist yet is created on the first put', async () => {
  const { outside } = setup();
  const store = new LocalArtifactStore(join(outside, 'new', 'store'));
  await store.put('runs/a.json', '{}');
  expect(await store.list('')).toEqual(['runs/a.json']);
});
