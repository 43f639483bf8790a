/**
 * The artifact store over a local folder: the embedded default, and what tests use.
 *
 * On-disk format: each key is one file at `<root>/<key>` holding exactly the object's bytes, so
 * the folder can be used directly: a `model.json` loads in tfjs, a `summary.json` in `json.load`
 * or `jq`, a report in a browser. Beside it, in the same directory, sits its integrity record, a
 * hidden file named after the content it vouches for: `.<name>.<sha256>.sha256` holding
 * `{"sha256":"…","size":N}` (`<name>` is the key's last segment; see `recordFileName` for very
 * long names). Key segments never start with '.', so hidden names never collide with keys and
 * `list` skips them along with temp files.
 *
 * `put` writes the data to a temp file (fsynced), then the record (temp, fsync, rename), then
 * renames the data onto the key. A reader hashes the data and looks for the record of that hash.
 * Because records are named by content, neither ordering hazard of a plain sidecar applies:
 *  - A crash after the record's rename but before the data's leaves the old data in place with
 *    its own record untouched (the new record has a different name), so the old object still
 *    verifies; the orphaned record is harmless, and a later overwrite or delete of the key
 *    sweeps it.
 *  - Two writers racing on one key (a Temporal activity retried while its first attempt still
 *    runs) each publish their own record before their own data, so whichever data lands last
 *    finds its record beside it.
 * A put sweeps records of the same name for other content only once they are older than
 * `STALE_RECORD_MS`: a racing writer holds a fresh record for the milliseconds between writing
 * it and renaming its data, and must not lose it. A writer that stalled longer than that, or
 * whose record another writer's sweep removed in the instant it was being replaced, finds its
 * record gone after its rename and writes it again (a read in between reports the object
 * corrupt; it never returns wrong bytes). A read that finds the file replaced while it was
 * checking it (a put landed) reads again rather than report a false corruption.
 *
 * Stores written before this format (a JSON header line, `{"hwnasArtifact":1,…}`, in front of
 * the bytes) still read: a file without a matching record that starts with that header is
 * checked against it, and `get` returns the body. The next `put` of a key replaces it with the
 * new format.
 *
 * A write that runs out of space (ENOSPC, EDQUOT) fails with `ArtifactStoreFullError`, never
 * reports success, and leaves the previous object (if any) in place and no temp files behind.
 *
 * Known difference from S3: a folder cannot hold both `a` and `a/b`, because `a` would have to
 * be a file and a directory at once. Such a `put` fails with `ArtifactKeyError`. Run and stage
 * keys never nest that way.
 *
 * Symlinks: keys cannot escape the root (validateKey), but a symlink planted inside it could
 * (`<root>/runs -> /elsewhere`). Writes (the directories `put` creates, its temp files, the
 * rename that publishes) and reads check that the real path of what they touch is inside the
 * root's real path, and fail with `ArtifactKeyError` saying a symlink leads outside; temp files
 * are opened with O_NOFOLLOW. A symlink whose target is inside the root is followed as usual, and
 * the root itself may be a link.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream, promises as fs, readFileSync, readdirSync, statSync, type Dirent, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  ArtifactInfo,
  ArtifactKeyError,
  ArtifactNotFoundError,
  ArtifactStore,
  ArtifactStoreAccessError,
  ArtifactStoreFullError,
  CorruptArtifactError,
  isAccessCode,
  toBytes,
  validateKey,
} from './store';

export { ArtifactStoreFullError } from './store';

const LEGACY_FORMAT_VERSION = 1;
/** A legacy header longer than this is not one of ours; stop looking for its newline. */
const MAX_HEADER_BYTES = 1024;
const LEGACY_HEADER_START = Buffer.from('{"hwnasArtifact":');
const TEMP_PREFIX = '.tmp-';
const RECORD_SUFFIX = '.sha256';
/**
 * Records for other content than the one just put are removed once older than this. A racing
 * writer's record is milliseconds old when its data lands; five minutes is far beyond that.
 */
export const STALE_RECORD_MS = 5 * 60 * 1000;
/**
 * Names up to this length appear whole in their record's name; the record adds 73 characters,
 * which keeps it within the 255-byte limit of common file systems.
 */
const MAX_NAME_IN_RECORD = 160;
/**
 * `head` finds the record of a file up to this size by its hash, without listing the directory
 * (which costs more in a folder of many small objects); larger files are not read.
 */
const HEAD_HASHES_UP_TO = 64 * 1024;
/** A read that keeps finding a different file under the key (puts racing it) gives up after this. */
const READ_ATTEMPTS = 3;
/** `wx`, and a symlink planted under the temp file's (random) name is not followed either. */
const CREATE_NEW_NO_FOLLOW = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0);

interface LegacyHeader {
  hwnasArtifact: number;
  sha256: string;
  size: number;
}

/** The content of an integrity record file, plus where it is and when it was written. */
interface IntegrityRecord {
  sha256: string;
  size: number;
  mtimeMs: number;
  file: string;
}

/** What `put` needs of an open file; `FileHandle` has it. Tests inject a fake to simulate a full disk. */
export interface WritableFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export interface LocalArtifactStoreOptions {
  /**
   * Opens a new file for writing (`wx`). Defaults to `fs.open`; tests replace it to simulate
   * short writes and a full disk.
   */
  openForWrite?: (file: string) => Promise<WritableFile>;
}

export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;
  readonly location: string;
  private readonly openForWrite: (file: string) => Promise<WritableFile>;

  constructor(root: string, options: LocalArtifactStoreOptions = {}) {
    this.root = path.resolve(root);
    this.location = pathToFileURL(this.root).href;
    this.openForWrite = options.openForWrite ?? ((file) => fs.open(file, CREATE_NEW_NO_FOLLOW));
  }

  async put(key: string, data: Uint8Array | string): Promise<ArtifactInfo> {
    const file = this.fileFor(key);
    try {
      return await this.putFile(key, file, toBytes(data));
    } catch (err) {
      throw this.storeError(err, key, 'store');
    }
  }

  /** A full or refusing disk as the one-line errors that say so; anything else as it came. */
  private storeError(err: unknown, key: string, action: 'store' | 'read' | 'delete' | 'list'): unknown {
    const code = errCode(err);
    if (action === 'store' && (code === 'ENOSPC' || code === 'EDQUOT')) return new ArtifactStoreFullError(key, this.location, code, err);
    if (isAccessCode(code)) return new ArtifactStoreAccessError(key, this.location, action, code, err);
    return err;
  }

  private async putFile(key: string, file: string, bytes: Uint8Array): Promise<ArtifactInfo> {
    const sha256 = sha256Hex(bytes);
    const info: ArtifactInfo = { key, size: bytes.byteLength, sha256 };
    const dir = path.dirname(file);
    const name = path.basename(file);
    const record = path.join(dir, recordFileName(name, sha256));

    const dataTmp = await this.writeTemp(key, dir, bytes);
    let replacing = false;
    try {
      await this.writeRecord(key, dir, record, info);
      // Only governs housekeeping: a first put of a key has no old records to sweep, bar those
      // of a put that crashed before it, which the next overwrite or a delete sweeps.
      replacing = await exists(file);
      // The last check before publishing: the directory is still where openTemp found it.
      await this.checkInside(key, dir);
      await fs.rename(dataTmp, file);
    } catch (err) {
      await fs.rm(dataTmp, { force: true }).catch(() => undefined);
      if (errCode(err) === 'EISDIR' || errCode(err) === 'ENOTEMPTY' || errCode(err) === 'EEXIST') {
        // The key names a directory of other keys, so no object of this name exists to need the record.
        await fs.rm(record, { force: true }).catch(() => undefined);
        throw new ArtifactKeyError(key, `other artifacts are stored under "${key}/" in ${this.location}`);
      }
      throw err;
    }
    await syncDir(dir);
    if (replacing) await this.sweepStaleRecords(dir, name, sha256);
    // Another writer's sweep may have raced ours (it saw our content's old record just before we
    // replaced it), or we stalled past STALE_RECORD_MS: our data must not stay without its record.
    if (!(await exists(record))) await this.writeRecord(key, dir, record, info);
    return info;
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await this.getVerified(key);
    } catch (err) {
      throw this.storeError(err, key, 'read');
    }
  }

  private async getVerified(key: string): Promise<Uint8Array> {
    const file = this.fileFor(key);
    await this.checkInside(key, file);
    const dir = path.dirname(file);
    const name = path.basename(file);
    for (let attempt = 1; ; attempt++) {
      const read = await readWhole(file);
      if (!read) throw new ArtifactNotFoundError(key, this.location);
      const { raw, stats } = read;
      const actual = sha256Hex(raw);
      try {
        // The common case without listing the directory: the record of exactly this content.
        const own = await readRecord(path.join(dir, recordFileName(name, actual)), actual);
        if (own && own.size === raw.byteLength) return asUint8Array(raw);
        return asUint8Array(verifyAgainstRecords(key, this.location, raw, actual, await readRecords(dir, name)));
      } catch (err) {
        // A put replaced the file while we read it (and swept the record we needed): read again.
        if (err instanceof CorruptArtifactError && attempt < READ_ATTEMPTS && (await changedSince(file, stats))) continue;
        throw err;
      }
    }
  }

  async head(key: string): Promise<ArtifactInfo | undefined> {
    try {
      return await this.headChecked(key);
    } catch (err) {
      throw this.storeError(err, key, 'read');
    }
  }

  private async headChecked(key: string): Promise<ArtifactInfo | undefined> {
    const file = this.fileFor(key);
    await this.checkInside(key, file);
    for (let attempt = 1; ; attempt++) {
      const stats = await statFile(file);
      if (!stats) return undefined;
      try {
        return await this.headOf(key, file, stats);
      } catch (err) {
        if (err instanceof CorruptArtifactError && attempt < READ_ATTEMPTS && (await changedSince(file, stats))) continue;
        if (isMissing(err)) return undefined;
        throw err;
      }
    }
  }

  /**
   * Metadata of the file whose stat is `stats`. A small file is hashed and its record looked up
   * by name; a large one is not read in the common case (one record, of the file's size). Never
   * vouches for a file whose size no record agrees with, nor, once hashed, for one whose hash
   * none does.
   */
  private async headOf(key: string, file: string, stats: Stats): Promise<ArtifactInfo> {
    const dir = path.dirname(file);
    const name = path.basename(file);
    let actual: string | undefined;
    if (stats.size <= HEAD_HASHES_UP_TO) {
      // Hashing a small file costs less than listing a large directory, and proves more.
      const read = await readWhole(file);
      if (read) {
        actual = sha256Hex(read.raw);
        const own = await readRecord(path.join(dir, recordFileName(name, actual)), actual);
        if (own && own.size === read.raw.byteLength) return { key, size: own.size, sha256: actual };
      }
    }
    const records = await readRecords(dir, name);
    if (actual === undefined && records.length === 1 && records[0].size === stats.size) {
      return { key, size: stats.size, sha256: records[0].sha256 };
    }

    const legacy = await this.legacyHead(key, file, stats);
    if (legacy instanceof CorruptArtifactError) {
      if (records.length === 0) throw legacy;
    } else if (legacy) {
      return legacy;
    }

    const sameSize = records.filter((r) => r.size === stats.size);
    if (sameSize.length === 0) throw new CorruptArtifactError(key, this.location, mismatchDetail(stats.size, undefined, records));
    // Several records (a put in flight, or a loser of a race not yet swept): the content decides.
    actual ??= await hashFile(file);
    const match = sameSize.find((r) => r.sha256 === actual);
    if (!match) throw new CorruptArtifactError(key, this.location, mismatchDetail(stats.size, actual, records));
    return { key, size: stats.size, sha256: match.sha256 };
  }

  /** The info of a legacy header file; undefined when the file has no legacy header; the error when its header is bad. */
  private async legacyHead(key: string, file: string, stats: Stats): Promise<ArtifactInfo | CorruptArtifactError | undefined> {
    const handle = await fs.open(file, 'r');
    let prefix: Buffer;
    try {
      const buf = Buffer.alloc(MAX_HEADER_BYTES);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      prefix = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    if (!startsWithLegacyHeader(prefix)) return undefined;
    try {
      const { header, bodyStart } = parseLegacyHeader(key, this.location, prefix);
      const onDisk = stats.size - bodyStart;
      if (onDisk !== header.size) throw new CorruptArtifactError(key, this.location, `${onDisk} bytes on disk, ${header.size} written`);
      return { key, size: header.size, sha256: header.sha256 };
    } catch (err) {
      if (err instanceof CorruptArtifactError) return err;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    try {
      return await this.listKeys(prefix);
    } catch (err) {
      throw this.storeError(err, prefix, 'list');
    }
  }

  private async listKeys(prefix: string): Promise<string[]> {
    validateKey(prefix, { allowPrefix: true });
    // Prefixes match like S3's: as strings, so `runs/a` matches `runs/abc/x`. Walk only the
    // deepest directory the prefix fully names, then filter.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = this.resolveInside(dirPart);
    await this.checkInside(prefix, start);
    const keys: string[] = [];
    await this.walk(start, dirPart, keys);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    try {
      return await this.deleteKey(key);
    } catch (err) {
      throw this.storeError(err, key, 'delete');
    }
  }

  private async deleteKey(key: string): Promise<void> {
    const file = this.fileFor(key);
    // The directory, not the file: unlinking a symlink under the key removes the link alone.
    await this.checkInside(key, path.dirname(file));
    try {
      await fs.unlink(file);
    } catch (err) {
      // EISDIR/EPERM: the key names a directory of other keys, which is not an artifact.
      if (errCode(err) === 'EISDIR' || errCode(err) === 'EPERM') return;
      if (!isMissing(err)) throw err;
    }
    // Records go after the data, so no reader sees the data without its record; also those a
    // crashed put left for a key that never got its data.
    const dir = path.dirname(file);
    for (const record of await listRecordFiles(dir, path.basename(file))) {
      await fs.rm(path.join(dir, record), { force: true });
    }
    await this.pruneEmptyParents(dir);
  }

  /**
   * Writes `bytes` whole to a new temp file in `dir`, fsynced, closed and read back (size and
   * SHA-256); returns its path. On any failure the temp file is removed and the error (ENOSPC
   * included) passes on.
   */
  private async writeTemp(key: string, dir: string, bytes: Uint8Array): Promise<string> {
    const { tmpPath, handle } = await this.openTemp(key, dir);
    try {
      try {
        await writeAll(handle, bytes);
        // Without fsync before rename, a power cut can publish the new name with empty contents.
        await handle.sync();
        const { size } = await handle.stat();
        if (size !== bytes.byteLength) {
          throw new Error(`writing artifact ${JSON.stringify(key)} to ${this.location} left ${size} of ${bytes.byteLength} bytes on disk`);
        }
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw err;
      }
      // Some file systems (NFS) report a failed write only at close; that must fail the put too.
      await handle.close();
      // What the file system hands back, not what we handed it, is what gets published.
      const onDisk = await hashFile(tmpPath);
      if (onDisk !== sha256Hex(bytes)) {
        throw new Error(`writing artifact ${JSON.stringify(key)} to ${this.location} left other bytes on disk than were written (sha256 ${onDisk})`);
      }
    } catch (err) {
      await fs.rm(tmpPath, { force: true }).catch(() => undefined);
      throw err;
    }
    return tmpPath;
  }

  /** Publishes the record for `info` at `record`, durably, before the data that needs it. */
  private async writeRecord(key: string, dir: string, record: string, info: ArtifactInfo): Promise<void> {
    const content = Buffer.from(JSON.stringify({ sha256: info.sha256, size: info.size }), 'utf8');
    const tmp = await this.writeTemp(key, dir, content);
    try {
      await fs.rename(tmp, record);
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    await syncDir(dir);
  }

  /**
   * Removes records of `name` for other content than `keep` that are too old to belong to a put
   * in flight. Housekeeping only: the object is already published, so a failure here (another
   * sweep got there first, a permission problem) must not fail the put.
   */
  private async sweepStaleRecords(dir: string, name: string, keep: string): Promise<void> {
    const pattern = recordPattern(name);
    const now = Date.now();
    const entries = await listRecordFiles(dir, name).catch(() => []);
    for (const entry of entries) {
      if (pattern.exec(entry)?.[1] === keep) continue;
      const file = path.join(dir, entry);
      try {
        const { mtimeMs } = await fs.stat(file);
        if (now - mtimeMs > STALE_RECORD_MS) await fs.rm(file, { force: true });
      } catch {
        // Best effort, see above.
      }
    }
  }

  /**
   * A concurrent delete may prune the directory between our mkdir and the temp file's creation;
   * once the temp file exists the directory is not empty and stays. Three tries cover the race.
   */
  private async openTemp(key: string, dir: string): Promise<{ tmpPath: string; handle: WritableFile }> {
    for (let attempt = 0; ; attempt++) {
      try {
        // mkdir follows symlinks: it must not create folders through one that leads outside.
        await this.checkInside(key, dir);
        await fs.mkdir(dir, { recursive: true });
        await this.checkInside(key, dir);
        const tmpPath = path.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
        return { tmpPath, handle: await this.openForWrite(tmpPath) };
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
      // Our temp files and integrity records start with '.', which no valid key segment does;
      // anything else invalid was not put by this store and is not reported as an artifact.
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

  private fileFor(key: string): string {
    validateKey(key);
    return this.resolveInside(key);
  }

  /**
   * Throws `ArtifactKeyError` when the real path of `target` (a path under the root), or of its
   * deepest existing ancestor when it does not exist yet, is outside the root's real path: a
   * symlink under the root leads out of it. A dangling symlink on the way counts as leading out,
   * since mkdir would follow it. A root that does not exist yet holds no symlinks.
   */
  private async checkInside(key: string, target: string): Promise<void> {
    let realRoot: string;
    try {
      realRoot = await fs.realpath(this.root);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (let probe = target; ; probe = path.dirname(probe)) {
      let real: string;
      try {
        real = await fs.realpath(probe);
      } catch (err) {
        if (errCode(err) === 'ENOTDIR') return; // a parent is a file: the operation itself reports it
        if (errCode(err) !== 'ENOENT') throw err;
        if (probe === this.root || !probe.startsWith(this.root + path.sep)) return;
        if (await isSymlink(probe)) throw escapes(key, probe, 'a symlink to nothing', this.location);
        continue;
      }
      if (real !== realRoot && !real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep)) {
        throw escapes(key, probe, real, this.location);
      }
      return;
    }
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

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Writes every byte: `write` may write fewer than asked (a full disk, a signal), so loop until
 * done. The write that finds no space left throws ENOSPC, which the caller reports.
 */
export async function writeAll(handle: Pick<WritableFile, 'write'>, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, offset);
    if (!Number.isSafeInteger(bytesWritten) || bytesWritten <= 0) {
      throw new Error(`write stopped after ${offset} of ${bytes.byteLength} bytes`);
    }
    offset += bytesWritten;
  }
}

// ---------------------------------------------------------------------------------------------
// Integrity records

/**
 * The record file for content `sha256` of the file `name`. A name too long to fit whole keeps
 * its start and gains a hash of itself after a '~', which no key segment contains.
 */
export function recordFileName(name: string, sha256: string): string {
  return `.${recordTag(name)}.${sha256}${RECORD_SUFFIX}`;
}

function recordTag(name: string): string {
  if (name.length <= MAX_NAME_IN_RECORD) return name;
  return `${name.slice(0, 100)}~${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
}

function recordPattern(name: string): RegExp {
  const tag = recordTag(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${tag}\\.([0-9a-f]{64})\\.sha256$`);
}

function parseRecord(file: string, sha256: string, text: string, mtimeMs: number): IntegrityRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = parsed as Partial<IntegrityRecord> | null;
  if (!r || r.sha256 !== sha256 || typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0) return undefined;
  return { sha256, size: r.size, mtimeMs, file };
}

/** The record at `file` for content `sha256`; undefined when there is none or it is not a valid record. */
async function readRecord(file: string, sha256: string): Promise<IntegrityRecord | undefined> {
  const whole = await readWhole(file);
  return whole && parseRecord(file, sha256, whole.raw.toString('utf8'), whole.stats.mtimeMs);
}

/** Names of the record files of `name` in `dir`. */
async function listRecordFiles(dir: string, name: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const pattern = recordPattern(name);
  return entries.filter((e) => pattern.test(e));
}

/** The valid records of `name` in `dir`, newest first. */
async function readRecords(dir: string, name: string): Promise<IntegrityRecord[]> {
  const pattern = recordPattern(name);
  const records: IntegrityRecord[] = [];
  for (const entry of await listRecordFiles(dir, name)) {
    const record = await readRecord(path.join(dir, entry), pattern.exec(entry)![1]);
    if (record) records.push(record);
  }
  return records.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

function readRecordsSync(dir: string, name: string): IntegrityRecord[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const pattern = recordPattern(name);
  const records: IntegrityRecord[] = [];
  for (const entry of entries) {
    const sha256 = pattern.exec(entry)?.[1];
    if (!sha256) continue;
    const file = path.join(dir, entry);
    try {
      const record = parseRecord(file, sha256, readFileSync(file, 'utf8'), statSync(file).mtimeMs);
      if (record) records.push(record);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
  return records.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

// ---------------------------------------------------------------------------------------------
// Verifying

/**
 * The object a stored file holds: `raw` itself when a record vouches for it, else the body of a
 * legacy header file that checks out; anything else is corrupt.
 */
function verifyAgainstRecords(key: string, location: string, raw: Buffer, actual: string, records: IntegrityRecord[]): Buffer {
  if (records.some((r) => r.sha256 === actual && r.size === raw.byteLength)) return raw;
  if (startsWithLegacyHeader(raw)) {
    try {
      return verifiedLegacyBody(key, location, raw);
    } catch (err) {
      // With records beside it the file was meant to be in the new format; say what they expect.
      if (records.length === 0 || !(err instanceof CorruptArtifactError)) throw err;
    }
  }
  throw new CorruptArtifactError(key, location, mismatchDetail(raw.byteLength, actual, records));
}

/** Why a file of `size` bytes (and hash `actual`, when computed) matches none of its records. */
function mismatchDetail(size: number, actual: string | undefined, records: IntegrityRecord[]): string {
  if (records.length === 0) return 'no integrity record beside it';
  const sameSize = records.filter((r) => r.size === size);
  if (sameSize.length === 0 || actual === undefined) return `${size} bytes on disk, ${records[0].size} written`;
  const others = sameSize.length > 1 ? ` (or ${sameSize.length - 1} other records)` : '';
  return `checksum mismatch: sha256 is ${actual}, the integrity record says ${sameSize[0].sha256}${others}`;
}

function startsWithLegacyHeader(raw: Buffer): boolean {
  return raw.subarray(0, LEGACY_HEADER_START.length).equals(LEGACY_HEADER_START);
}

function parseLegacyHeader(key: string, location: string, raw: Buffer): { header: LegacyHeader; bodyStart: number } {
  const newline = raw.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  if (newline < 0) throw new CorruptArtifactError(key, location, 'no header line');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.subarray(0, newline).toString('utf8'));
  } catch {
    throw new CorruptArtifactError(key, location, 'header is not valid JSON');
  }
  const h = parsed as Partial<LegacyHeader> | null;
  if (
    !h ||
    h.hwnasArtifact !== LEGACY_FORMAT_VERSION ||
    typeof h.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(h.sha256) ||
    typeof h.size !== 'number' ||
    !Number.isSafeInteger(h.size) ||
    h.size < 0
  ) {
    throw new CorruptArtifactError(key, location, 'header is not a valid artifact header');
  }
  return { header: h as LegacyHeader, bodyStart: newline + 1 };
}

/** The object a legacy (header-format) file holds, once its header parses and its size and SHA-256 match it. */
function verifiedLegacyBody(key: string, location: string, raw: Buffer): Buffer {
  const { header, bodyStart } = parseLegacyHeader(key, location, raw);
  const body = raw.subarray(bodyStart);
  if (body.byteLength !== header.size) throw new CorruptArtifactError(key, location, `${body.byteLength} bytes on disk, ${header.size} written`);
  const actual = sha256Hex(body);
  if (actual !== header.sha256) throw new CorruptArtifactError(key, location, `checksum mismatch: sha256 is ${actual}, ${header.sha256} written`);
  return body;
}

/**
 * A file's bytes as a user means them, verified when the file sits in a local artifact folder
 * (against its integrity record, or the header of a store written before records), else the
 * file as it is. Lets the CLI take the paths `nas run` prints, e.g.
 * `nas arch describe runs/…/phi-1.arch.json`.
 */
export function readPossiblyStoredFile(file: string): Buffer {
  const raw = readFileSync(file);
  const resolved = path.resolve(file);
  const name = path.basename(resolved);
  const records = readRecordsSync(path.dirname(resolved), name);
  if (records.length === 0 && !startsWithLegacyHeader(raw)) return raw;
  return verifyAgainstRecords(name, pathToFileURL(resolved).href, raw, sha256Hex(raw), records);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A plain Uint8Array over the buffer's bytes, copied only when the buffer shares a larger allocation. */
function asUint8Array(buf: Buffer): Uint8Array {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return new Uint8Array(buf.buffer);
  return new Uint8Array(buf);
}

/** The file's bytes and the stat of what was read; undefined when there is no file under that name. */
async function readWhole(file: string): Promise<{ raw: Buffer; stats: Stats } | undefined> {
  let handle: FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return undefined;
    return { raw: await handle.readFile(), stats };
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  } finally {
    await handle.close();
  }
}

/** The stat of a regular file; undefined when there is none (a directory of keys is not one). */
async function statFile(file: string): Promise<Stats | undefined> {
  try {
    const stats = await fs.stat(file);
    return stats.isFile() ? stats : undefined;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** Whether the name now holds another file (or none) than the one `before` describes. */
async function changedSince(file: string, before: Stats): Promise<boolean> {
  const now = await statFile(file);
  return !now || now.ino !== before.ino || now.dev !== before.dev || now.size !== before.size || now.mtimeMs !== before.mtimeMs;
}

async function isSymlink(file: string): Promise<boolean> {
  try {
    return (await fs.lstat(file)).isSymbolicLink();
  } catch {
    return false;
  }
}

function escapes(key: string, at: string, real: string, location: string): ArtifactKeyError {
  return new ArtifactKeyError(key, `a symlink leads outside the store ${location}: ${at} is ${real}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
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
