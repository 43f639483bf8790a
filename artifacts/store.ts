/**
 * The artifact store: where checkpoints, models, tables and reports live.
 *
 * Workflows never touch bytes; they pass keys. Activities read and write through this one
 * interface, so a local folder (the embedded default) and S3 behave the same.
 */

/** What the store records next to every object so that a reader can prove it is whole. */
export interface ArtifactInfo {
  key: string;
  size: number;
  /** Hex SHA-256 of the object's bytes, computed by the writer and checked by every read. */
  sha256: string;
}

export interface ArtifactStore {
  /** Where this store points, as a user would write it (`file:///…` or `s3://bucket/prefix`). */
  readonly location: string;
  /** Writes atomically: a reader sees the old object or the whole new one, never a part. */
  put(key: string, data: Uint8Array | string): Promise<ArtifactInfo>;
  /** Reads and verifies the checksum; throws `ArtifactNotFoundError` or `CorruptArtifactError`. */
  get(key: string): Promise<Uint8Array>;
  /** Metadata without the body, or undefined when the key does not exist. */
  head(key: string): Promise<ArtifactInfo | undefined>;
  /** Keys under a prefix, sorted, without the store's own bookkeeping files. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export class ArtifactKeyError extends Error {
  constructor(key: string, reason: string) {
    super(`invalid artifact key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'ArtifactKeyError';
  }
}

export class ArtifactNotFoundError extends Error {
  constructor(readonly key: string, location: string) {
    super(`artifact ${JSON.stringify(key)} not found in ${location}`);
    this.name = 'ArtifactNotFoundError';
  }
}

export class CorruptArtifactError extends Error {
  constructor(readonly key: string, location: string, detail: string) {
    super(`artifact ${JSON.stringify(key)} in ${location} is corrupt: ${detail}`);
    this.name = 'CorruptArtifactError';
  }
}

/**
 * The backend could not be reached or refused us (network, credentials, missing bucket). Unlike
 * the two errors above it says nothing about the artifact, so callers may retry it.
 */
export class ArtifactStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArtifactStoreUnavailableError';
  }
}

/**
 * Segments start with a letter or digit so that names beginning with `.` stay free for the stores'
 * own bookkeeping (temp files), which therefore can never collide with a user's key.
 */
const KEY_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._=+-]*$/;

/**
 * Keys are relative, slash-separated paths of plain segments. Rejecting `..`, absolute paths and
 * odd characters here, once, is what keeps a key from escaping its run's prefix in either backend.
 * A trailing slash is allowed only for prefixes (`allowPrefix`).
 */
export function validateKey(key: string, opts: { allowPrefix?: boolean } = {}): string {
  if (typeof key !== 'string' || key.length === 0) {
    if (opts.allowPrefix && key === '') return key;
    throw new ArtifactKeyError(String(key), 'must be a non-empty string');
  }
  if (key.length > 512) throw new ArtifactKeyError(key, 'longer than 512 characters');
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) throw new ArtifactKeyError(key, 'must be relative');
  const body = opts.allowPrefix && key.endsWith('/') ? key.slice(0, -1) : key;
  for (const segment of body.split('/')) {
    if (segment === '') throw new ArtifactKeyError(key, 'has an empty path segment');
    if (segment === '.' || segment === '..') throw new ArtifactKeyError(key, `has a "${segment}" segment`);
    if (!KEY_SEGMENT.test(segment)) {
      throw new ArtifactKeyError(key, `segment ${JSON.stringify(segment)} may only use letters, digits and . _ = + -`);
    }
  }
  return key;
}

/** Joins key segments with `/` and validates the result. */
export function joinKey(...parts: string[]): string {
  return validateKey(parts.filter((p) => p.length > 0).join('/'));
}

export function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

export async function getJson<T>(store: ArtifactStore, key: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await store.get(key))) as T;
}

export function putJson(store: ArtifactStore, key: string, value: unknown): Promise<ArtifactInfo> {
  return store.put(key, JSON.stringify(value, null, 2));
}

/**
 * The store's disk or quota is full: nothing was stored, and the previous object, if any, is
 * intact. Retrying cannot help until someone frees space, so activities fail at once with this
 * (workflows/policies.ts) and `nas resume` continues from the last checkpoint afterwards.
 */
export class ArtifactStoreFullError extends Error {
  /** `ENOSPC` or `EDQUOT` as the operating system reported it, or the S3 server's error name. */
  readonly code: string;
  constructor(readonly key: string, location: string, code: string, cause: unknown) {
    const quota = code === 'EDQUOT' ? ' (disk quota exceeded)' : '';
    super(`cannot store artifact ${JSON.stringify(key)} in ${location}: no space left on device${quota}`, { cause });
    this.name = 'ArtifactStoreFullError';
    this.code = code;
  }
}

const ACCESS_REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/**
 * The store's folder refuses this process (a read-only file system, missing permissions): as
 * with a full disk, retrying cannot help until someone changes it.
 */
export class ArtifactStoreAccessError extends Error {
  /** `EROFS`, `EACCES` or `EPERM`, as the operating system reported it. */
  readonly code: string;
  constructor(readonly key: string, location: string, action: 'store' | 'read' | 'delete' | 'list', code: string, cause: unknown) {
    super(`cannot ${action} artifact ${JSON.stringify(key)} in ${location}: ${ACCESS_REASONS[code] ?? code} (${code})`, { cause });
    this.name = 'ArtifactStoreAccessError';
    this.code = code;
  }
}

/** The operating-system codes that ArtifactStoreAccessError stands for. */
export function isAccessCode(code: string | undefined): code is string {
  return code !== undefined && code in ACCESS_REASONS;
}
