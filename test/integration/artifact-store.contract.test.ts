/**
 * One contract, two backends: whatever a local folder does, S3 (a real MinIO) must do the same,
 * so that a run developed on a laptop behaves identically on a cluster.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

import {
  ArtifactKeyError,
  ArtifactNotFoundError,
  ArtifactStore,
  ArtifactStoreUnavailableError,
  CorruptArtifactError,
  LocalArtifactStore,
  S3ArtifactStore,
  getJson,
  openArtifactStore,
  putJson,
} from '../../artifacts';
import { freePort } from '../../infra/free-port';
import { S3Server, startS3Server } from '../../infra/s3-server';

interface ContractSubject {
  store: ArtifactStore;
  /** Damages a stored object behind the store's back, as a failing disk or a foreign writer would. */
  corrupt(key: string, how: 'flip' | 'truncate'): Promise<void>;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** SIGSTOP returns before every thread has stopped; on a loaded machine one can still answer a request. */
async function untilAllThreadsStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const tasks = await fs.readdir(`/proc/${pid}/task`);
    // The state follows the parenthesised command name, which may itself hold spaces or parentheses.
    const states = await Promise.all(
      tasks.map(async (t) => {
        const stat = await fs.readFile(`/proc/${pid}/task/${t}/stat`, 'utf8');
        return stat[stat.lastIndexOf(')') + 2];
      }),
    );
    if (states.every((s) => s === 'T' || s === 't')) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop: thread states ${states.join('')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function describeArtifactStoreContract(name: string, makeStore: () => Promise<ContractSubject>): void {
  describe(`${name}: ArtifactStore contract`, () => {
    let subject: ContractSubject;
    let store: ArtifactStore;

    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });

    it('round-trips a string as UTF-8 and reports size and checksum', async () => {
      const value = 'accuracy: 0.91 — latency 3.2 ms ✓';
      const info = await store.put('runs/r1/report.txt', value);
      const bytes = new TextEncoder().encode(value);
      expect(info).toEqual({ key: 'runs/r1/report.txt', size: bytes.byteLength, sha256: sha256(bytes) });
      expect(text(await store.get('runs/r1/report.txt'))).toBe(value);
    });

    it('round-trips binary data byte for byte, including every byte value and the empty object', async () => {
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
      const big = new Uint8Array(randomBytes(3 * 1024 * 1024 + 7));
      await store.put('bin/every-byte', everyByte);
      await store.put('bin/big', big);
      await store.put('bin/empty', new Uint8Array(0));
      expect(Buffer.from(await store.get('bin/every-byte')).equals(Buffer.from(everyByte))).toBe(true);
      expect(Buffer.from(await store.get('bin/big')).equals(Buffer.from(big))).toBe(true);
      expect((await store.get('bin/empty')).byteLength).toBe(0);
      expect(await store.head('bin/empty')).toEqual({ key: 'bin/empty', size: 0, sha256: sha256(new Uint8Array(0)) });
    });

    it('round-trips JSON through the helpers', async () => {
      await putJson(store, 'runs/r1/summary.json', { best: { acc: 0.9, macs: 1e6 } });
      expect(await getJson(store, 'runs/r1/summary.json')).toEqual({ best: { acc: 0.9, macs: 1e6 } });
    });

    it('overwrites a key with the new value', async () => {
      await store.put('ckpt/latest', 'old value, longer than the new one');
      const info = await store.put('ckpt/latest', 'new');
      expect(text(await store.get('ckpt/latest'))).toBe('new');
      expect(await store.head('ckpt/latest')).toEqual(info);
      expect(await store.list('ckpt/')).toEqual(['ckpt/latest']);
    });

    it('heads an object without its body, and returns undefined when it is missing', async () => {
      const info = await store.put('a/b/c.bin', new Uint8Array([1, 2, 3]));
      expect(await store.head('a/b/c.bin')).toEqual(info);
      expect(await store.head('a/b/missing')).toBeUndefined();
      expect(await store.head('a/b')).toBeUndefined(); // a "directory" is not an artifact
    });

    it('lists keys under a prefix, recursively and sorted, matching prefixes as strings like S3', async () => {
      for (const key of ['runs/r2/y', 'runs/r1/b/c', 'other/z', 'runs/r10/x', 'runs/r1/a', 'runs/r1/B']) {
        await store.put(key, key);
      }
      expect(await store.list('runs/r1/')).toEqual(['runs/r1/B', 'runs/r1/a', 'runs/r1/b/c']);
      expect(await store.list('runs/r1')).toEqual(['runs/r1/B', 'runs/r1/a', 'runs/r1/b/c', 'runs/r10/x']);
      expect(await store.list('runs/r1/b')).toEqual(['runs/r1/b/c']);
      expect(await store.list('')).toEqual([
        'other/z',
        'runs/r1/B',
        'runs/r1/a',
        'runs/r1/b/c',
        'runs/r10/x',
        'runs/r2/y',
      ]);
      expect(await store.list('nothing/')).toEqual([]);
      expect(await store.list('runs/r1/a')).toEqual(['runs/r1/a']);
    });

    it('lists past one page of results (S3 pages at 1000)', async () => {
      const keys = Array.from({ length: 1003 }, (_, i) => `many/k${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'x')));
      }
      expect(await store.list('many/')).toEqual(keys);
    });

    it('deletes an object; deleting a missing one is not an error', async () => {
      await store.put('d/one', '1');
      await store.put('d/two', '2');
      await store.delete('d/one');
      await expect(store.get('d/one')).rejects.toThrow(ArtifactNotFoundError);
      expect(await store.head('d/one')).toBeUndefined();
      expect(await store.list('d/')).toEqual(['d/two']);
      await expect(store.delete('d/one')).resolves.toBeUndefined();
      await expect(store.delete('never/was')).resolves.toBeUndefined();
    });

    it('lets a prefix become a key once everything under it is deleted', async () => {
      await store.put('p/q/r', 'nested');
      await store.delete('p/q/r');
      await store.put('p/q', 'now a leaf');
      expect(text(await store.get('p/q'))).toBe('now a leaf');
      expect(await store.list('p/')).toEqual(['p/q']);
    });

    it('throws ArtifactNotFoundError naming the key and the store for a missing key', async () => {
      const err = await store.get('runs/none/model.json').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArtifactNotFoundError);
      expect((err as Error).message).toContain('"runs/none/model.json"');
      expect((err as Error).message).toContain(store.location);
    });

    const badKeys = ['', '..', '../escape', 'a/../../b', '/abs/path', 'C:/win', 'a//b', 'a/', 'a\\b'];
    badKeys.push('sp ace', '.hidden', 'a/.x', 'ü', 'a\0b');

    it.each(badKeys)('rejects the invalid key %j in every operation', async (key) => {
      await expect(store.put(key, 'x')).rejects.toThrow(ArtifactKeyError);
      await expect(store.get(key)).rejects.toThrow(ArtifactKeyError);
      await expect(store.head(key)).rejects.toThrow(ArtifactKeyError);
      await expect(store.delete(key)).rejects.toThrow(ArtifactKeyError);
    });

    it('rejects invalid list prefixes', async () => {
      for (const prefix of ['..', '../', '/abs', 'a//', 'a\\b']) {
        await expect(store.list(prefix)).rejects.toThrow(ArtifactKeyError);
      }
    });

    it.each(['flip', 'truncate'] as const)('detects a %s of the stored bytes', async (how) => {
      await store.put('weights/w.bin', new Uint8Array(randomBytes(4096)));
      await subject.corrupt('weights/w.bin', how);
      const err = await store.get('weights/w.bin').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptArtifactError);
      expect((err as Error).message).toContain('"weights/w.bin"');
    });

    it('leaves exactly one whole value when puts to the same key race', async () => {
      const values = Array.from({ length: 12 }, () => new Uint8Array(randomBytes(256 * 1024)));
      const infos = await Promise.all(values.map((v) => store.put('race/ckpt', v)));
      const got = await store.get('race/ckpt');
      const winner = values.findIndex((v) => Buffer.from(v).equals(Buffer.from(got)));
      expect(winner).toBeGreaterThanOrEqual(0);
      expect(await store.head('race/ckpt')).toEqual(infos[winner]);
      // No temp files or other bookkeeping may show up as keys.
      expect(await store.list('')).toEqual(['race/ckpt']);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Local folder

const tmpRoots: string[] = [];
async function tmpDir(label: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `hwnas-${label}-`));
  tmpRoots.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(tmpRoots.map((d) => fs.rm(d, { recursive: true, force: true })));
});

describe('LocalArtifactStore', () => {
  describeArtifactStoreContract('local folder', async () => {
    const root = path.join(await tmpDir('local'), 'store');
    const store = new LocalArtifactStore(root);
    return {
      store,
      async corrupt(key, how) {
        const file = path.join(root, ...key.split('/'));
        const raw = await fs.readFile(file);
        if (how === 'flip') {
          raw[raw.length - 1] ^= 0x01;
          await fs.writeFile(file, raw);
        } else {
          await fs.truncate(file, raw.length - 1);
        }
      },
    };
  });

  it('hides stale temp files and integrity records from list and ignores files it did not write', async () => {
    const root = await tmpDir('local-stale');
    const store = new LocalArtifactStore(root);
    await store.put('runs/r1/a', 'a');
    await fs.writeFile(path.join(root, 'runs', 'r1', '.tmp-deadbeef'), 'half a write');
    await fs.writeFile(path.join(root, 'not a key.txt'), 'foreign');
    expect(await store.list('')).toEqual(['runs/r1/a']);
  });

  it('reports a file without an integrity record beside it as corrupt, not as data', async () => {
    const root = await tmpDir('local-foreign');
    const store = new LocalArtifactStore(root);
    await fs.writeFile(path.join(root, 'foreign'), 'no record for this');
    await expect(store.get('foreign')).rejects.toThrow(CorruptArtifactError);
    await expect(store.get('foreign')).rejects.toThrow(/is corrupt: no integrity record beside it$/);
    await expect(store.head('foreign')).rejects.toThrow(CorruptArtifactError);
  });

  it('stores the object itself under its key, the integrity record hidden beside it', async () => {
    const root = await tmpDir('local-raw');
    const store = new LocalArtifactStore(root);
    await putJson(store, 'runs/r1/summary.json', { best: 1 });
    const stored = await fs.readFile(path.join(root, 'runs', 'r1', 'summary.json'), 'utf8');
    expect(JSON.parse(stored)).toEqual({ best: 1 });
    const hidden = (await fs.readdir(path.join(root, 'runs', 'r1'))).filter((f) => f.startsWith('.'));
    expect(hidden).toEqual([`.summary.json.${sha256(new TextEncoder().encode(stored))}.sha256`]);
  });

  it('cannot hold both a key and keys under it, and says so', async () => {
    const store = new LocalArtifactStore(await tmpDir('local-nest'));
    await store.put('a', 'leaf');
    await expect(store.put('a/b', 'child')).rejects.toThrow(ArtifactKeyError);
    await store.put('x/y', 'child');
    await expect(store.put('x', 'leaf')).rejects.toThrow(ArtifactKeyError);
    expect(await store.list('')).toEqual(['a', 'x/y']);
  });

  it('keeps every write inside its root', async () => {
    const outer = await tmpDir('local-escape');
    const store = new LocalArtifactStore(path.join(outer, 'root'));
    await expect(store.put('../outside', 'x')).rejects.toThrow(ArtifactKeyError);
    expect(await fs.readdir(outer)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// S3 against a real MinIO

const BUCKET = 'hwnas-contract';
const CREDENTIAL_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'] as const;

describe('S3ArtifactStore (MinIO)', () => {
  let server: S3Server;
  let admin: S3Client;
  const stores: S3ArtifactStore[] = [];
  const savedEnv: Partial<Record<string, string>> = {};

  beforeAll(async () => {
    server = await startS3Server({ dataDir: path.join(await tmpDir('minio'), 'data') });
    // The stores take credentials from the standard chain, as they will in production.
    for (const name of CREDENTIAL_ENV) {
      savedEnv[name] = process.env[name];
      delete process.env[name];
    }
    process.env.AWS_ACCESS_KEY_ID = server.accessKey;
    process.env.AWS_SECRET_ACCESS_KEY = server.secretKey;
    admin = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1' });
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  afterAll(async () => {
    for (const store of stores) store.destroy();
    admin?.destroy();
    await server?.stop();
    for (const name of CREDENTIAL_ENV) {
      if (savedEnv[name] === undefined) delete process.env[name];
      else process.env[name] = savedEnv[name];
    }
  });

  let nextPrefix = 0;
  describeArtifactStoreContract('S3', async () => {
    // A fresh prefix per test gives each test an empty store without a bucket per test.
    const store = new S3ArtifactStore(`s3://${BUCKET}/t${nextPrefix++}`, { endpoint: server.endpoint });
    stores.push(store);
    return {
      store,
      async corrupt(key, how) {
        const objectKey = store.objectKey(key);
        const res = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: objectKey }));
        const body = Buffer.from(await res.Body!.transformToByteArray());
        const damaged = how === 'flip' ? Buffer.from(body) : body.subarray(0, body.length - 1);
        if (how === 'flip') damaged[damaged.length - 1] ^= 0x01;
        // A foreign writer keeping the old checksum is what a verifier must catch.
        await admin.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: damaged, Metadata: res.Metadata }),
        );
      },
    };
  });

  it('keeps keys under its prefix in the bucket', async () => {
    const store = new S3ArtifactStore(`s3://${BUCKET}/scoped/run-1`, { endpoint: server.endpoint });
    stores.push(store);
    await store.put('model.json', '{}');
    expect(store.location).toBe(`s3://${BUCKET}/scoped/run-1`);
    expect(store.objectKey('model.json')).toBe('scoped/run-1/model.json');
    const res = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'scoped/run-1/model.json' }));
    expect(res.Metadata?.sha256).toBe(sha256(new TextEncoder().encode('{}')));
  });

  it('sends the SHA-256 with the body, so that the server refuses a body that does not match it', async () => {
    const store = new S3ArtifactStore(`s3://${BUCKET}/checked`, { endpoint: server.endpoint });
    stores.push(store);
    const body = new Uint8Array(randomBytes(4096));
    await store.put('ckpt.bin', body);
    const head = await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'checked/ckpt.bin', ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumSHA256).toBe(createHash('sha256').update(body).digest('base64'));
    // The server's own check is what a damaged upload meets: the same body under another digest.
    const wrong = createHash('sha256').update('other bytes').digest('base64');
    await expect(admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'checked/torn.bin', Body: body, ChecksumSHA256: wrong }))).rejects.toThrow();
    expect(await store.head('torn.bin')).toBeUndefined();
  });

  it('reports an object without checksum metadata as corrupt', async () => {
    const store = new S3ArtifactStore(`s3://${BUCKET}/foreign`, { endpoint: server.endpoint });
    stores.push(store);
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'foreign/obj', Body: 'hi' }));
    await expect(store.get('obj')).rejects.toThrow(/no sha256 metadata/);
  });

  it('names the bucket when it does not exist', async () => {
    const store = new S3ArtifactStore('s3://no-such-bucket-here/x', { endpoint: server.endpoint });
    stores.push(store);
    await expect(store.put('k', 'v')).rejects.toThrow(/bucket no-such-bucket-here does not exist at S3 endpoint/);
  });

  it('says access was refused, without printing the credentials, when they are wrong', async () => {
    const wrongSecret = 'wrong-secret-' + randomBytes(8).toString('hex');
    process.env.AWS_SECRET_ACCESS_KEY = wrongSecret;
    try {
      const store = new S3ArtifactStore(`s3://${BUCKET}/denied`, { endpoint: server.endpoint });
      stores.push(store);
      const err = await store.put('k', 'v').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArtifactStoreUnavailableError);
      const expected = `S3 endpoint ${server.endpoint} for bucket ${BUCKET} refused access`;
      expect((err as Error).message).toMatch(new RegExp(`^${expected} \\(\\w+\\); check the AWS credentials$`));
      expect((err as Error).message).not.toContain(wrongSecret);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = server.secretKey;
    }
  });

  it('gives up on a server that accepted the request and went silent, and works again once it answers', async () => {
    const store = new S3ArtifactStore(`s3://${BUCKET}/hung`, { endpoint: server.endpoint, idleTimeoutMs: 500 });
    stores.push(store);
    await store.put('k', 'before');
    process.kill(server.pid, 'SIGSTOP'); // the kernel still accepts connections; nothing answers
    await untilAllThreadsStopped(server.pid);
    let err: unknown;
    const started = Date.now();
    try {
      err = await store.get('k').catch((e: unknown) => e);
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    // Three attempts of 0.5 s silence plus the SDK's backoff, far from the 30 s default.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(ArtifactStoreUnavailableError);
    expect((err as Error).message).toBe(`cannot reach S3 endpoint ${server.endpoint} for bucket ${BUCKET}: timed out`);
    expect(text(await store.get('k'))).toBe('before');
  });

  it('fails fast and clearly when the endpoint is dead, without leaking credentials', async () => {
    const port = await freePort(); // free, so nothing listens there
    const endpoint = `http://127.0.0.1:${port}`;
    const store = new S3ArtifactStore(`s3://${BUCKET}/dead`, { endpoint });
    stores.push(store);
    for (const op of [() => store.get('k'), () => store.put('k', 'v'), () => store.list(''), () => store.head('k')]) {
      const started = Date.now();
      const err = await op().catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(err).toBeInstanceOf(ArtifactStoreUnavailableError);
      expect((err as Error).message).toBe(`cannot reach S3 endpoint ${endpoint} for bucket ${BUCKET}: ECONNREFUSED`);
      expect((err as Error).message).not.toContain(server.secretKey);
      expect((err as Error).message).not.toContain(server.accessKey);
    }
  });
});

describe('openArtifactStore', () => {
  it('opens a folder for a path or a file:// URL', async () => {
    const dir = await tmpDir('open');
    const fromPath = openArtifactStore(dir);
    const fromUrl = openArtifactStore(`file://${dir}`);
    expect(fromPath).toBeInstanceOf(LocalArtifactStore);
    expect(fromUrl).toBeInstanceOf(LocalArtifactStore);
    expect(fromUrl.location).toBe(fromPath.location);
  });

  it('opens S3 for an s3:// URL', () => {
    const store = openArtifactStore('s3://my-bucket/runs/', { endpoint: 'http://127.0.0.1:1' });
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect(store.location).toBe('s3://my-bucket/runs');
    (store as S3ArtifactStore).destroy();
  });

  it('rejects other schemes and bad S3 locations with a hint', () => {
    expect(() => openArtifactStore('gs://bucket/x')).toThrow(/scheme "gs:" is not supported; use a folder path/);
    expect(() => openArtifactStore('')).toThrow(/location is empty/);
    expect(() => openArtifactStore('s3://Bad_Bucket/x')).toThrow(/invalid S3 bucket name/);
    expect(() => openArtifactStore('s3://bucket/../x')).toThrow(ArtifactKeyError);
  });
});
