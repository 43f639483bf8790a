/**
 * @jest-environment ./test/support/node-realm-environment.js
 */
/**
 * The local artifact store's files are the objects themselves (loadable by tfjs, `json.load`, a
 * browser), with a content-named integrity record beside each. These tests pin the format, the
 * crash and race guarantees that made the old store put a header in the file, reading stores
 * written in that old format, and that a full disk is never reported as a successful write.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, promises as fs, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { ArtifactStoreAccessError, CorruptArtifactError, getJson, putJson } from '../../../artifacts';
import {
  ArtifactStoreFullError,
  LocalArtifactStore,
  STALE_RECORD_MS,
  readPossiblyStoredFile,
  writeAll,
  type WritableFile,
} from '../../../artifacts/local-store';

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function setup(): { root: string; store: LocalArtifactStore } {
  const root = mkdtempSync(join(tmpdir(), 'nas-local-store-'));
  roots.push(root);
  return { root, store: new LocalArtifactStore(root) };
}

/** The integrity record's name, as the format defines it (spelled out here, not taken from the code). */
const recordName = (name: string, content: Uint8Array | string): string => `.${name}.${sha256(content)}.sha256`;

/** Writes the record a put writes first, as a put that crashed right after it would leave it. */
function writeRecordByHand(dir: string, name: string, content: Uint8Array | string): string {
  const file = join(dir, recordName(name, content));
  writeFileSync(file, JSON.stringify({ sha256: sha256(content), size: Buffer.byteLength(content) }));
  return file;
}

/** Publishes data under a name by rename, as a put's last step does. */
function renameDataByHand(file: string, content: Uint8Array | string): void {
  const tmp = join(dirname(file), `.tmp-byhand${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

/** A file in the format stores used before integrity records: a JSON header line, then the bytes. */
function legacyFile(body: Uint8Array | string): Buffer {
  const bytes = Buffer.from(body);
  const header = JSON.stringify({ hwnasArtifact: 1, sha256: sha256(bytes), size: bytes.byteLength });
  return Buffer.concat([Buffer.from(header + '\n'), bytes]);
}

async function age(file: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await fs.utimes(file, then, then);
}

const recordsIn = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.sha256')).sort();
const tempsIn = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith('.tmp-'));

describe('stored files are the objects themselves', () => {
  it('a stored JSON file reads back with fs.readFileSync and JSON.parse as exactly what was put', async () => {
    const { root, store } = setup();
    const summary = { best: { accuracy: 0.91, macs: 1.2e6, arch: 'e6_k5_s2_c16' }, trials: [1, 2, 3] };
    await putJson(store, 'runs/r1/search/summary.json', summary);
    const file = join(root, 'runs/r1/search/summary.json');
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify(summary, null, 2));
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(summary);
  });

  it("a stored JSON file loads with Python's json.load", async () => {
    const { root, store } = setup();
    await putJson(store, 'runs/r1/summary.json', { ok: true, values: [0.5, 'ü'] });
    const py = spawnSync('python3', ['-c', 'import json,sys; print(json.dumps(json.load(open(sys.argv[1], encoding="utf-8"))))', join(root, 'runs/r1/summary.json')], {
      encoding: 'utf8',
    });
    expect(py.error).toBeUndefined();
    expect(py.stderr).toBe('');
    expect(py.status).toBe(0);
    expect(JSON.parse(py.stdout)).toEqual({ ok: true, values: [0.5, 'ü'] });
  });

  it('a model exported into the store loads in tfjs straight from the folder', async () => {
    const { loadTf } = await import('../../../engine/backend');
    const { exportTfjsModel } = await import('../../../activities/model-export');
    const tf = loadTf();
    const { root, store } = setup();
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, kernelInitializer: 'ones' })] });
    await exportTfjsModel(model, store, 'runs/r1/train/model/model.json', 'runs/r1/train/model/weights.bin');
    const loaded = await tf.loadLayersModel(`file://${join(root, 'runs/r1/train/model/model.json')}`);
    const input = tf.tensor2d([[1, 2, 3]]);
    expect(Array.from((loaded.predict(input) as ReturnType<typeof tf.tensor>).dataSync())).toEqual(
      Array.from((model.predict(input) as ReturnType<typeof tf.tensor>).dataSync()),
    );
  });

  it('keeps one hidden integrity record beside each object, which list does not show', async () => {
    const { root, store } = setup();
    const bytes = new Uint8Array(randomBytes(1000));
    const info = await store.put('runs/r1/weights.bin', bytes);
    const dir = join(root, 'runs/r1');
    expect(readdirSync(dir).sort()).toEqual([recordName('weights.bin', bytes), 'weights.bin'].sort());
    expect(readFileSync(join(dir, 'weights.bin')).equals(Buffer.from(bytes))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, recordName('weights.bin', bytes)), 'utf8'))).toEqual({ sha256: info.sha256, size: 1000 });
    expect(await store.list('')).toEqual(['runs/r1/weights.bin']);
  });

  it('returns a stored file as it is from readPossiblyStoredFile, and a file outside any store too', async () => {
    const { root, store } = setup();
    await store.put('runs/r1/phi-1.arch.json', '{"name":"stored"}');
    expect(readPossiblyStoredFile(join(root, 'runs/r1/phi-1.arch.json')).toString()).toBe('{"name":"stored"}');
    writeFileSync(join(root, 'plain.json'), '{"name":"plain"}');
    expect(readPossiblyStoredFile(join(root, 'plain.json')).toString()).toBe('{"name":"plain"}');
  });

  it("does not mix up the records of names that share a start (model, model.json, model.<hex>)", async () => {
    const { root, store } = setup();
    const lookalike = `model.${'a'.repeat(64)}`;
    for (const key of ['d/model', 'd/model.json', `d/${lookalike}`]) await store.put(key, `value of ${key}`);
    await store.delete('d/model');
    expect(text(await store.get('d/model.json'))).toBe('value of d/model.json');
    expect(text(await store.get(`d/${lookalike}`))).toBe(`value of d/${lookalike}`);
    expect(recordsIn(join(root, 'd'))).toEqual([recordName('model.json', 'value of d/model.json'), recordName(lookalike, `value of d/${lookalike}`)].sort());
  });

  it('handles names too long to fit whole into a record name', async () => {
    const { root, store } = setup();
    const name = 'n'.repeat(240);
    const info = await store.put(`long/${name}`, 'long name');
    expect(text(await store.get(`long/${name}`))).toBe('long name');
    expect(await store.head(`long/${name}`)).toEqual(info);
    for (const entry of readdirSync(join(root, 'long'))) expect(Buffer.byteLength(entry)).toBeLessThanOrEqual(255);
    await store.delete(`long/${name}`);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('damage is detected', () => {
  it('a flipped byte fails get with the checksum the record expects', async () => {
    const { root, store } = setup();
    const bytes = new Uint8Array(randomBytes(4096));
    await store.put('w/w.bin', bytes);
    const file = join(root, 'w/w.bin');
    const raw = readFileSync(file);
    raw[100] ^= 0x01;
    writeFileSync(file, raw);
    const err = await store.get('w/w.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptArtifactError);
    expect((err as Error).message).toBe(
      `artifact "w/w.bin" in ${store.location} is corrupt: checksum mismatch: sha256 is ${sha256(raw)}, the integrity record says ${sha256(bytes)}`,
    );
  });

  // Small files head reads and hashes; large ones it judges by size alone. Both must catch a cut.
  it.each([4096, 256 * 1024])('a truncated file of %i bytes fails get and head: head never reports it as present and whole', async (size) => {
    const { root, store } = setup();
    await store.put('w/w.bin', new Uint8Array(randomBytes(size)));
    await fs.truncate(join(root, 'w/w.bin'), size - 96);
    const detail = new RegExp(`is corrupt: ${size - 96} bytes on disk, ${size} written$`);
    await expect(store.get('w/w.bin')).rejects.toThrow(detail);
    await expect(store.head('w/w.bin')).rejects.toThrow(CorruptArtifactError);
    await expect(store.head('w/w.bin')).rejects.toThrow(detail);
  });

  it.each([4096, 256 * 1024])('a truncated file of %i bytes is caught by head also while other records sit beside it', async (size) => {
    const { root, store } = setup();
    const v1 = new Uint8Array(randomBytes(size));
    await store.put('w/w.bin', v1);
    const cut = v1.subarray(0, size / 2);
    // A record of the truncated size, for other content: only the hash can tell.
    writeRecordByHand(join(root, 'w'), 'w.bin', new Uint8Array(randomBytes(size / 2)));
    await fs.truncate(join(root, 'w/w.bin'), size / 2);
    await expect(store.head('w/w.bin')).rejects.toThrow(new RegExp(`checksum mismatch: sha256 is ${sha256(cut)}`));
    await expect(store.get('w/w.bin')).rejects.toThrow(CorruptArtifactError);
  });

  it('head of a large object with one record of its size does not read it', async () => {
    const { root, store } = setup();
    const info = await store.put('w/big.bin', new Uint8Array(randomBytes(256 * 1024)));
    const spy = jest.spyOn(fs, 'open');
    try {
      expect(await store.head('w/big.bin')).toEqual(info);
      const opened = spy.mock.calls.map(([file]) => String(file));
      expect(opened).toContain(join(root, 'w', `.big.bin.${info.sha256}.sha256`));
      expect(opened).not.toContain(join(root, 'w/big.bin'));
    } finally {
      spy.mockRestore();
    }
  });

  it('a file without any record is corrupt, not data, for get and head', async () => {
    const { root, store } = setup();
    await store.put('k', 'value');
    await fs.rm(join(root, recordName('k', 'value')));
    await expect(store.get('k')).rejects.toThrow(/is corrupt: no integrity record beside it$/);
    await expect(store.head('k')).rejects.toThrow(/is corrupt: no integrity record beside it$/);
  });

  it('readPossiblyStoredFile refuses a damaged stored file', async () => {
    const { root, store } = setup();
    await store.put('a.json', '{"name":"stored"}');
    writeFileSync(join(root, 'a.json'), '{"name":"storeD"}');
    expect(() => readPossiblyStoredFile(join(root, 'a.json'))).toThrow(/a\.json.*is corrupt: checksum mismatch/);
  });
});

describe('stores written in the old header format', () => {
  it('still read through get, head, list and readPossiblyStoredFile', async () => {
    const { root, store } = setup();
    const body = JSON.stringify({ name: 'legacy', resolution: 16 });
    mkdirSync(join(root, 'runs/old'), { recursive: true });
    writeFileSync(join(root, 'runs/old/phi-1.arch.json'), legacyFile(body));
    expect(text(await store.get('runs/old/phi-1.arch.json'))).toBe(body);
    expect(await store.head('runs/old/phi-1.arch.json')).toEqual({ key: 'runs/old/phi-1.arch.json', size: Buffer.byteLength(body), sha256: sha256(body) });
    expect(await store.list('runs/')).toEqual(['runs/old/phi-1.arch.json']);
    expect(readPossiblyStoredFile(join(root, 'runs/old/phi-1.arch.json')).toString()).toBe(body);
  });

  it('are still checked: a flipped byte fails get, a truncation fails get and head', async () => {
    const { root, store } = setup();
    const body = new Uint8Array(randomBytes(1000));
    const legacy = legacyFile(body);
    const flipped = Buffer.from(legacy);
    flipped[flipped.length - 1] ^= 0x01;
    writeFileSync(join(root, 'flipped'), flipped);
    await expect(store.get('flipped')).rejects.toThrow(/corrupt: checksum mismatch/);
    expect(() => readPossiblyStoredFile(join(root, 'flipped'))).toThrow(/corrupt: checksum mismatch/);
    writeFileSync(join(root, 'cut'), legacy.subarray(0, legacy.length - 10));
    await expect(store.get('cut')).rejects.toThrow(/corrupt: 990 bytes on disk, 1000 written/);
    await expect(store.head('cut')).rejects.toThrow(/corrupt: 990 bytes on disk, 1000 written/);
  });

  it('keep reading when a put over them crashed before its data landed, and a put replaces them with a raw file', async () => {
    const { root, store } = setup();
    writeFileSync(join(root, 'k'), legacyFile('old'));
    writeRecordByHand(root, 'k', 'new but never renamed');
    expect(text(await store.get('k'))).toBe('old');
    expect(await store.head('k')).toEqual({ key: 'k', size: 3, sha256: sha256('old') });
    await store.put('k', 'new');
    expect(readFileSync(join(root, 'k'), 'utf8')).toBe('new');
    expect(text(await store.get('k'))).toBe('new');
  });
});

describe('the guarantees the old header gave, kept with content-named records', () => {
  it('a crash between writing the new record and renaming the new data leaves the old object whole', async () => {
    const { root, store } = setup();
    const v1Info = await store.put('ckpt/latest', 'version one');
    writeRecordByHand(join(root, 'ckpt'), 'latest', 'version two, which never landed');
    expect(text(await store.get('ckpt/latest'))).toBe('version one');
    expect(await store.head('ckpt/latest')).toEqual(v1Info);
    expect(readPossiblyStoredFile(join(root, 'ckpt/latest')).toString()).toBe('version one');
    expect(await store.list('')).toEqual(['ckpt/latest']);
  });

  it('two interleaved writers: the one whose data lands last verifies, whichever it is', async () => {
    // A writes its record, B puts (record, data, sweep), then A's data lands last.
    const { root, store } = setup();
    writeRecordByHand(root, 'k', 'from A');
    const infoB = await store.put('k', 'from B');
    expect(text(await store.get('k'))).toBe('from B');
    expect(await store.head('k')).toEqual(infoB);
    renameDataByHand(join(root, 'k'), 'from A');
    expect(text(await store.get('k'))).toBe('from A');
    expect(await store.head('k')).toEqual({ key: 'k', size: 6, sha256: sha256('from A') });

    // And the other way round: A is all done before B's put, B lands last.
    const other = setup();
    writeRecordByHand(other.root, 'k', 'from A');
    renameDataByHand(join(other.root, 'k'), 'from A');
    const infoB2 = await other.store.put('k', 'from B');
    expect(text(await other.store.get('k'))).toBe('from B');
    expect(await other.store.head('k')).toEqual(infoB2);
  });

  it('puts racing on one key with different sizes leave one whole value that head agrees with', async () => {
    const { root, store } = setup();
    const values = Array.from({ length: 10 }, (_, i) => new Uint8Array(randomBytes(1000 + i * 997)));
    const infos = await Promise.all(values.map((v) => store.put('race/ckpt', v)));
    const got = Buffer.from(await store.get('race/ckpt'));
    const winner = values.findIndex((v) => got.equals(Buffer.from(v)));
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(await store.head('race/ckpt')).toEqual(infos[winner]);
    expect(tempsIn(join(root, 'race'))).toEqual([]);
  });

  it('a put sweeps records of other content once they are stale, never fresh ones', async () => {
    const { root, store } = setup();
    await store.put('k', 'v1');
    const stale = writeRecordByHand(root, 'k', 'crashed put, long ago');
    await age(stale, STALE_RECORD_MS + 60_000);
    await age(join(root, recordName('k', 'v1')), STALE_RECORD_MS + 60_000);
    writeRecordByHand(root, 'k', 'a put in flight right now');
    await store.put('k', 'v2');
    expect(recordsIn(root)).toEqual([recordName('k', 'a put in flight right now'), recordName('k', 'v2')].sort());
    expect(text(await store.get('k'))).toBe('v2');
  });

  it('re-putting the same content keeps its record, even one old enough to be swept', async () => {
    const { root, store } = setup();
    await store.put('k', 'same');
    await age(join(root, recordName('k', 'same')), STALE_RECORD_MS + 60_000);
    await store.put('k', 'same');
    expect(recordsIn(root)).toEqual([recordName('k', 'same')]);
    expect(text(await store.get('k'))).toBe('same');
  });

  it('delete removes the data, its records (also those of crashed puts) and the emptied folders', async () => {
    const { root, store } = setup();
    await store.put('a/b/c', 'one');
    writeRecordByHand(join(root, 'a/b'), 'c', 'crashed put');
    await store.delete('a/b/c');
    expect(readdirSync(root)).toEqual([]);
    // A record left without data by a crashed first put goes too.
    mkdirSync(join(root, 'x'));
    writeRecordByHand(join(root, 'x'), 'y', 'never landed');
    await store.delete('x/y');
    expect(readdirSync(root)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// A full disk

function enospc(syscall = 'write'): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), { code: 'ENOSPC', errno: -28, syscall });
}

/**
 * Opens the real file, but lets `write` through `chunk` bytes at a time (a short write, which
 * the caller must continue) and fails the way `failWith` says after `okWrites` calls.
 */
function shortWriter(opts: { chunk: number; okWrites?: number; failWith?: () => Error; zeroAfter?: number; syncFails?: boolean }) {
  const opened: string[] = [];
  const open = async (file: string): Promise<WritableFile> => {
    opened.push(file);
    const real: FileHandle = await fs.open(file, 'wx');
    let calls = 0;
    return {
      async write(buffer, offset, length, position) {
        calls++;
        if (opts.okWrites !== undefined && calls > opts.okWrites) throw (opts.failWith ?? enospc)();
        if (opts.zeroAfter !== undefined && calls > opts.zeroAfter) return { bytesWritten: 0 };
        return real.write(buffer, offset, Math.min(length, opts.chunk), position);
      },
      async sync() {
        if (opts.syncFails) throw enospc('fsync');
        await real.sync();
      },
      stat: () => real.stat(),
      close: () => real.close(),
    };
  };
  return { open, opened };
}

describe('a full disk is never reported as a successful write', () => {
  it('writes every byte through short writes', async () => {
    const { root } = setup();
    const fake = shortWriter({ chunk: 7 });
    const store = new LocalArtifactStore(root, { openForWrite: fake.open });
    const bytes = new Uint8Array(randomBytes(1000));
    await store.put('k', bytes);
    expect(readFileSync(join(root, 'k')).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(await new LocalArtifactStore(root).get('k')).equals(Buffer.from(bytes))).toBe(true);
  });

  it('writeAll continues after a short write and stops on a write that makes no progress', async () => {
    const calls: number[] = [];
    await writeAll({ write: async (_b, offset, length) => (calls.push(offset), { bytesWritten: Math.min(length, 4) }) }, new Uint8Array(10));
    expect(calls).toEqual([0, 4, 8]);
    await expect(writeAll({ write: async () => ({ bytesWritten: 0 }) }, new Uint8Array(3))).rejects.toThrow('write stopped after 0 of 3 bytes');
  });

  it('a short write then ENOSPC rejects the put clearly, publishes nothing and leaves no temp file', async () => {
    const { root } = setup();
    const plain = new LocalArtifactStore(root);
    await plain.put('runs/r1/other', 'untouched');
    const fake = shortWriter({ chunk: 1000, okWrites: 3 });
    const store = new LocalArtifactStore(root, { openForWrite: fake.open });
    const err = await store.put('runs/r1/big.bin', new Uint8Array(10_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactStoreFullError);
    expect((err as Error).message).toBe(`cannot store artifact "runs/r1/big.bin" in ${store.location}: no space left on device`);
    expect((err as ArtifactStoreFullError).code).toBe('ENOSPC');
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(fake.opened).toHaveLength(1);
    expect(readdirSync(join(root, 'runs/r1')).sort()).toEqual([recordName('other', 'untouched'), 'other']);
    expect(await plain.head('runs/r1/big.bin')).toBeUndefined();
    expect(await plain.list('')).toEqual(['runs/r1/other']);
  });

  it('keeps the previous value when overwriting it fails for lack of space', async () => {
    const { root } = setup();
    const plain = new LocalArtifactStore(root);
    const before = await plain.put('ckpt', 'previous');
    const store = new LocalArtifactStore(root, { openForWrite: shortWriter({ chunk: 10, okWrites: 1 }).open });
    await expect(store.put('ckpt', 'a much longer next value')).rejects.toThrow(ArtifactStoreFullError);
    expect(text(await plain.get('ckpt'))).toBe('previous');
    expect(await plain.head('ckpt')).toEqual(before);
    expect(tempsIn(root)).toEqual([]);
  });

  it('fails the same way when the space runs out writing the record, or at fsync', async () => {
    const { root } = setup();
    // The data fits in one write; the record's first write finds the disk full.
    let writes = 0;
    const open = async (file: string): Promise<WritableFile> => {
      const real = await fs.open(file, 'wx');
      return {
        write: async (b, o, l, p) => {
          if (++writes > 1) throw enospc();
          return real.write(b, o, l, p);
        },
        sync: () => real.sync(),
        stat: () => real.stat(),
        close: () => real.close(),
      };
    };
    await expect(new LocalArtifactStore(root, { openForWrite: open }).put('k', 'data')).rejects.toThrow(/^cannot store artifact "k" in .*: no space left on device$/);
    const syncFails = new LocalArtifactStore(root, { openForWrite: shortWriter({ chunk: 100, syncFails: true }).open });
    await expect(syncFails.put('k', 'data')).rejects.toThrow(ArtifactStoreFullError);
    expect(readdirSync(root)).toEqual([]);
  });

  it('says so for a full quota too (EDQUOT), and passes other write errors on as they are', async () => {
    const { root } = setup();
    const edquot = () => Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' });
    const quota = new LocalArtifactStore(root, { openForWrite: shortWriter({ chunk: 1, okWrites: 1, failWith: edquot }).open });
    const err = await quota.put('k', 'data').catch((e: unknown) => e);
    expect((err as Error).message).toBe(`cannot store artifact "k" in ${quota.location}: no space left on device (disk quota exceeded)`);
    expect((err as ArtifactStoreFullError).code).toBe('EDQUOT');
    // A folder that refuses us is one line naming it too, whatever the operation.
    const eacces = () => Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' });
    const refused = new LocalArtifactStore(root, { openForWrite: async () => Promise.reject(eacces()) });
    const denied = await refused.put('k', 'data').catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ArtifactStoreAccessError);
    expect((denied as Error).message).toBe(`cannot store artifact "k" in ${refused.location}: permission denied (EACCES)`);
    // A file system that takes the bytes but hands back others: the read-back digest catches it.
    const damaging = new LocalArtifactStore(root, {
      openForWrite: async (file) => {
        const real = await fs.open(file, 'wx');
        return {
          write: async (b, o, l, p) => {
            const copy = Buffer.from(b.subarray(o, o + l));
            copy[0] ^= 0xff;
            return real.write(copy, 0, l, p);
          },
          sync: () => real.sync(),
          stat: () => real.stat(),
          close: () => real.close(),
        };
      },
    });
    await expect(damaging.put('k', 'data')).rejects.toThrow(/^writing artifact "k" to .* left other bytes on disk than were written \(sha256 [0-9a-f]{64}\)$/);
    expect(readdirSync(root)).toEqual([]);
    const eio = () => Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    const broken = new LocalArtifactStore(root, { openForWrite: shortWriter({ chunk: 1, okWrites: 1, failWith: eio }).open });
    await expect(broken.put('k', 'data')).rejects.toThrow('EIO: i/o error, write');
    const stuck = new LocalArtifactStore(root, { openForWrite: shortWriter({ chunk: 1, zeroAfter: 2 }).open });
    await expect(stuck.put('k', 'data')).rejects.toThrow('write stopped after 2 of 4 bytes');
    expect(readdirSync(root)).toEqual([]);
  });
});

/**
 * The same on a real full file system, where the kernel itself writes short and then says
 * ENOSPC. Needs a tmpfs mount (root with CAP_SYS_ADMIN); elsewhere the fakes above stand in.
 */
const tmpfs = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'nas-full-disk-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', dir], { stdio: 'ignore' });
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return dir;
})();
afterAll(() => {
  if (!tmpfs) return;
  spawnSync('umount', [tmpfs], { stdio: 'ignore' });
  rmSync(tmpfs, { recursive: true, force: true });
});

(tmpfs ? describe : describe.skip)('on a real, small file system (tmpfs of 128 KiB)', () => {
  it('rejects a put that does not fit, keeps what was there, and works again once there is room', async () => {
    const store = new LocalArtifactStore(join(tmpfs!, 'store'));
    const small = await store.put('runs/r1/small.json', '{"fits":true}');
    const err = await store.put('runs/r1/big.bin', new Uint8Array(randomBytes(512 * 1024))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactStoreFullError);
    expect((err as Error).message).toBe(`cannot store artifact "runs/r1/big.bin" in ${store.location}: no space left on device`);
    expect((err as ArtifactStoreFullError).code).toBe('ENOSPC');
    const dir = join(tmpfs!, 'store/runs/r1');
    expect(readdirSync(dir).sort()).toEqual([recordName('small.json', '{"fits":true}'), 'small.json']);
    expect(await store.head('runs/r1/small.json')).toEqual(small);
    expect(await getJson(store, 'runs/r1/small.json')).toEqual({ fits: true });
    // The failed write's space was given back.
    await store.put('runs/r1/next.bin', new Uint8Array(32 * 1024));
    expect(await store.list('')).toEqual(['runs/r1/next.bin', 'runs/r1/small.json']);
  });

  it('on a file system remounted read-only, says so in one line for writes and deletes, and still reads', async () => {
    const store = new LocalArtifactStore(join(tmpfs!, 'ro-store'));
    await store.put('runs/r2/kept.json', '{"kept":true}');
    expect(spawnSync('mount', ['-o', 'remount,ro', tmpfs!]).status).toBe(0);
    try {
      const err = await store.put('runs/r2/new.json', '{}').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArtifactStoreAccessError);
      expect((err as Error).message).toBe(`cannot store artifact "runs/r2/new.json" in ${store.location}: read-only file system (EROFS)`);
      await expect(store.delete('runs/r2/kept.json')).rejects.toThrow(`cannot delete artifact "runs/r2/kept.json" in ${store.location}: read-only file system (EROFS)`);
      expect(await getJson(store, 'runs/r2/kept.json')).toEqual({ kept: true });
    } finally {
      spawnSync('mount', ['-o', 'remount,rw', tmpfs!]);
    }
  });
});
