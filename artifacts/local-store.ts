/**
 * The artifact store over a local folder: the embedded default, and what tests use.
 *
 * On-disk format: each key is one file at `<root>/<key>` whose first line is a JSON header
 * (`{"hwnasArtifact":1,"sha256":"…","size":N}`) followed by the object's bytes.
 *
 * Why a header and not a sidecar checksum file: the header travels with the bytes, so one
 * `rename` publishes data and checksum together. With a sidecar, data and checksum are two
 * renames; a crash between them makes the *old* object read as corrupt, and two writers racing
 * on one key (a Temporal activity retried while its first attempt is still running) can leave
 * one writer's data under the other's checksum for good. The price is that files in the folder
 * are not the raw bytes; read them through the store (or skip the first line).
 *
 * Known difference from S3: a folder cannot hold both `a` and `a/b`, because `a` would have to
 * be a file and a directory at once. Such a `put` fails with `ArtifactKeyError`. Run and stage
 * keys never nest that way.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, type Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  ArtifactInfo,
  ArtifactKeyError,
  ArtifactNotFoundError,
  ArtifactStore,
  CorruptArtifactError,
  toBytes,
  validateKey,
} from './store';

const FORMAT_VERSION = 1;
/** A header longer than this is not one of ours; stop looking for its newline. */
const MAX_HEADER_BYTES = 1024;
const TEMP_PREFIX = '.tmp-';

interface Header {
  hwnasArtifact: number;
  sha256: string;
  size: number;
}

export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;
  readonly location: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  async put(key: string, data: Uint8Array | string): Promise<ArtifactInfo> {
    const file = this.fileFor(key);
    const bytes = toBytes(data);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const header: Header = { hwnasArtifact: FORMAT_VERSION, sha256, size: bytes.byteLength };
    const headerBytes = Buffer.from(JSON.stringify(header) + '\n', 'utf8');

    const dir = path.dirname(file);
    const { tmpPath, handle } = await this.openTemp(key, dir);
    try {
      try {
        await handle.writev([headerBytes, bytes]);
        // Without fsync before rename, a power cut can publish the new name with empty contents.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmpPath, file);
    } catch (err) {
      await fs.rm(tmpPath, { force: true }).catch(() => undefined);
      if (errCode(err) === 'EISDIR' || errCode(err) === 'ENOTEMPTY' || errCode(err) === 'EEXIST') {
        throw new ArtifactKeyError(key, `other artifacts are stored under "${key}/" in ${this.location}`);
      }
      throw err;
    }
    await syncDir(dir);
    return { key, size: bytes.byteLength, sha256 };
  }

  async get(key: string): Promise<Uint8Array> {
    const file = this.fileFor(key);
    let raw: Buffer;
    try {
      raw = await fs.readFile(file);
    } catch (err) {
      if (isMissing(err)) throw new ArtifactNotFoundError(key, this.location);
      throw err;
    }
    // A copy, so the caller does not hold (and cannot mutate) the whole file buffer with its header.
    return new Uint8Array(verifiedBody(key, this.location, raw));
  }

  async head(key: string): Promise<ArtifactInfo | undefined> {
    const file = this.fileFor(key);
    let handle: FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const buf = Buffer.alloc(MAX_HEADER_BYTES);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      const { header } = this.parseHeader(key, buf.subarray(0, bytesRead));
      return { key, size: header.size, sha256: header.sha256 };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    } finally {
      await handle.close();
    }
  }

  async list(prefix: string): Promise<string[]> {
    validateKey(prefix, { allowPrefix: true });
    // Prefixes match like S3's: as strings, so `runs/a` matches `runs/abc/x`. Walk only the
    // deepest directory the prefix fully names, then filter.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = this.resolveInside(dirPart);
    const keys: string[] = [];
    await this.walk(start, dirPart, keys);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    const file = this.fileFor(key);
    try {
      await fs.unlink(file);
    } catch (err) {
      if (isMissing(err) || errCode(err) === 'EISDIR' || errCode(err) === 'EPERM') return;
      throw err;
    }
    await this.pruneEmptyParents(path.dirname(file));
  }

  /**
   * A concurrent delete may prune the directory between our mkdir and the temp file's creation;
   * once the temp file exists the directory is not empty and stays. Three tries cover the race.
   */
  private async openTemp(key: string, dir: string): Promise<{ tmpPath: string; handle: FileHandle }> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.mkdir(dir, { recursive: true });
        const tmpPath = path.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
        return { tmpPath, handle: await fs.open(tmpPath, 'wx') };
      } catch (err) {
        if (errCode(err) === 'ENOENT' && attempt < 2) continue;
        if (errCode(err) === 'ENOTDIR' || errCode(err) === 'EEXIST') {
          throw new ArtifactKeyError(key, `a parent of it is already stored as an artifact in ${this.location}`);
        }
        throw err;
      }
    }
  }

  /**
   * S3 has no directories, so after deleting `a/b` a `put("a")` must work; that needs the empty
   * `a/` gone. rmdir only removes empty directories, so this is safe against concurrent puts.
   */
  private async pruneEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.root && current.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(current);
      } catch {
        return;
      }
      current = path.dirname(current);
    }
  }

  private async walk(dir: string, keyPrefix: string, out: string[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const entry of entries) {
      // Our temp files start with '.', which no valid key segment does; anything else invalid
      // was not put by this store and is not reported as an artifact.
      if (entry.name.startsWith('.')) continue;
      const key = keyPrefix ? `${keyPrefix}/${entry.name}` : entry.name;
      try {
        validateKey(key);
      } catch {
        continue;
      }
      if (entry.isDirectory()) await this.walk(path.join(dir, entry.name), key, out);
      else if (entry.isFile()) out.push(key);
    }
  }

  private parseHeader(key: string, raw: Buffer): { header: Header; bodyStart: number } {
    return parseHeader(key, this.location, raw);
  }

  private fileFor(key: string): string {
    validateKey(key);
    return this.resolveInside(key);
  }

  /** validateKey already forbids escapes; this is the second lock on the same door. */
  private resolveInside(key: string): string {
    const resolved = path.resolve(this.root, ...key.split('/').filter((s) => s.length > 0));
    if (resolved !== this.root && !resolved.startsWith(this.root + path.sep)) {
      throw new ArtifactKeyError(key, `resolves outside ${this.location}`);
    }
    return resolved;
  }
}

function parseHeader(key: string, location: string, raw: Buffer): { header: Header; bodyStart: number } {
  const newline = raw.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  if (newline < 0) throw new CorruptArtifactError(key, location, 'no header line');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.subarray(0, newline).toString('utf8'));
  } catch {
    throw new CorruptArtifactError(key, location, 'header is not valid JSON');
  }
  const h = parsed as Partial<Header> | null;
  if (
    !h ||
    h.hwnasArtifact !== FORMAT_VERSION ||
    typeof h.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(h.sha256) ||
    typeof h.size !== 'number' ||
    !Number.isSafeInteger(h.size) ||
    h.size < 0
  ) {
    throw new CorruptArtifactError(key, location, 'header is not a valid artifact header');
  }
  return { header: h as Header, bodyStart: newline + 1 };
}

/** The object a stored file holds, once its header parses and its size and SHA-256 match it. */
function verifiedBody(key: string, location: string, raw: Buffer): Buffer {
  const { header, bodyStart } = parseHeader(key, location, raw);
  const body = raw.subarray(bodyStart);
  if (body.byteLength !== header.size) throw new CorruptArtifactError(key, location, `${body.byteLength} bytes on disk, ${header.size} written`);
  const actual = createHash('sha256').update(body).digest('hex');
  if (actual !== header.sha256) throw new CorruptArtifactError(key, location, `checksum mismatch: sha256 is ${actual}, ${header.sha256} written`);
  return body;
}

const HEADER_START = Buffer.from('{"hwnasArtifact":');

/**
 * A file's bytes as a user means them: the object itself when the file sits in a local artifact
 * folder (header checked and stripped, checksum verified), else the file as it is. Lets the CLI
 * take the paths `nas run` prints, e.g. `nas arch describe runs/…/phi-1.arch.json`.
 */
export function readPossiblyStoredFile(file: string): Buffer {
  const raw = readFileSync(file);
  if (!raw.subarray(0, HEADER_START.length).equals(HEADER_START)) return raw;
  return verifiedBody(path.basename(file), pathToFileURL(path.resolve(file)).href, raw);
}

/** Makes the rename itself durable; some platforms cannot fsync a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort: the data is already fsynced, only the directory entry's durability is at stake.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function isMissing(err: unknown): boolean {
  const code = errCode(err);
  // ENOTDIR: a parent of the key is a file, so the key cannot exist. EISDIR: the key names a
  // directory of other keys, which is not an artifact.
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
