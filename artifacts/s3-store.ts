/**
 * The artifact store over S3 or any S3-compatible server (MinIO, Ceph, R2).
 *
 * PutObject replaces an object whole, so atomicity comes free; the checksum rides in the object's
 * user metadata (`x-amz-meta-sha256`) beside the object's bytes, which stay exactly the file, and
 * is checked on every read, as the local store's integrity records are. Credentials come from the standard AWS chain (env, profile, instance role) and are never
 * passed around or printed here.
 */
import { createHash } from 'node:crypto';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import {
  ArtifactInfo,
  ArtifactNotFoundError,
  ArtifactStore,
  ArtifactStoreFullError,
  ArtifactStoreUnavailableError,
  CorruptArtifactError,
  toBytes,
  validateKey,
} from './store';
import { parseS3Location } from './location';

export { parseS3Location };

export interface S3StoreOptions {
  /** A custom endpoint such as `http://127.0.0.1:9000`; omitted means AWS itself. */
  endpoint?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; what MinIO and most self-hosted servers need. */
  forcePathStyle?: boolean;
  region?: string;
  /**
   * Milliseconds a request's socket may stay silent before the attempt is abandoned (default
   * 30 000). Bounds silence, not duration, so a large upload that keeps moving is never cut.
   */
  idleTimeoutMs?: number;
}

/**
 * Three attempts with the SDK's backoff fail a dead server in about a second, which keeps a
 * misconfigured run from hanging; Temporal's own activity retries handle longer outages.
 */
const MAX_ATTEMPTS = 3;
/** Bounds the TCP connect only, never a large upload; a black-holed address fails in seconds. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A server that accepts a request and then hangs (stopped, swapping, a dead peer behind a proxy)
 * would otherwise hold the call, and the worker's activity slot, until it wakes. After this much
 * silence the attempt fails and the SDK's retries, then Temporal's, take over.
 */
const IDLE_TIMEOUT_MS = 30_000;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
const ACCESS_ERRORS = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
]);
const NO_CHECKSUM = 'no sha256 metadata; the object was not written by this store';

export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  readonly bucket: string;
  /** Empty or ending in `/`; prepended to every key. */
  readonly prefix: string;
  /** The endpoint as shown in error messages: user info stripped so nothing secret is printed. */
  readonly endpointForDisplay: string;
  readonly client: S3Client;

  constructor(location: string, options: S3StoreOptions = {}) {
    const { bucket, prefix } = parseS3Location(location);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = `s3://${bucket}${prefix ? '/' + prefix.slice(0, -1) : ''}`;

    const endpoint = options.endpoint ?? defaultEndpoint();
    const region = options.region ?? nonEmpty(process.env.AWS_REGION) ?? 'us-east-1';
    // Self-hosted servers rarely have the wildcard DNS that virtual-hosted style needs, so a
    // custom endpoint means path style unless someone says otherwise.
    const forcePathStyle = options.forcePathStyle ?? envFlag('NAS_S3_FORCE_PATH_STYLE') ?? endpoint !== undefined;
    this.endpointForDisplay = endpoint ? redactUrl(endpoint) : `https://s3.${region}.amazonaws.com`;

    this.client = new S3Client({
      region,
      endpoint,
      forcePathStyle,
      maxAttempts: MAX_ATTEMPTS,
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS },
    });
  }

  async put(key: string, data: Uint8Array | string): Promise<ArtifactInfo> {
    const objectKey = this.objectKey(key);
    const bytes = toBytes(data);
    const digest = createHash('sha256').update(bytes).digest();
    const sha256 = digest.toString('hex');
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: objectKey,
      Body: bytes,
      ContentLength: bytes.byteLength,
      Metadata: { sha256 },
      // The server checks the body it received against this before it stores the object, so a
      // body damaged or cut on the way is refused instead of published.
      ChecksumSHA256: digest.toString('base64'),
    });
    await this.call('put', key, () => this.client.send(command));
    return { key, size: bytes.byteLength, sha256 };
  }

  async get(key: string): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    const res = await this.call('get', key, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey })),
    );
    if (!res.Body) throw new CorruptArtifactError(key, this.location, 'S3 returned no body');
    let body: Uint8Array;
    try {
      body = await res.Body.transformToByteArray();
    } catch (err) {
      throw this.translate(err, 'get', key);
    }
    const expected = res.Metadata?.sha256;
    if (!expected) {
      throw new CorruptArtifactError(key, this.location, NO_CHECKSUM);
    }
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== expected) {
      throw new CorruptArtifactError(key, this.location, `sha256 is ${actual}, ${expected} written`);
    }
    return body;
  }

  async head(key: string): Promise<ArtifactInfo | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const res = await this.call('head', key, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey })),
      );
      const sha256 = res.Metadata?.sha256;
      if (!sha256) {
        throw new CorruptArtifactError(key, this.location, NO_CHECKSUM);
      }
      return { key, size: res.ContentLength ?? 0, sha256 };
    } catch (err) {
      // HEAD responses have no body, so a missing bucket also reads as a plain 404 here; the
      // next put or list names the bucket problem properly.
      if (err instanceof ArtifactNotFoundError) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    validateKey(prefix, { allowPrefix: true });
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.call('list', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
        ),
      );
      for (const obj of res.Contents ?? []) {
        if (!obj.Key?.startsWith(this.prefix)) continue;
        const key = obj.Key.slice(this.prefix.length);
        // Objects put by other tools (console "folder" markers, odd names) are not artifacts.
        if (isValidKey(key)) keys.push(key);
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    // S3 already lists in byte order; keys are ASCII, so this sort is the same order and keeps
    // the contract independent of the server.
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    await this.call('delete', key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey })),
    );
  }

  /** Closes pooled connections; call when done so a test or CLI process can exit promptly. */
  destroy(): void {
    this.client.destroy();
  }

  objectKey(key: string): string {
    return this.prefix + validateKey(key);
  }

  /** Runs one SDK call, turning its failures into errors that name the endpoint and bucket. */
  private async call<T>(action: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.translate(err, action, key);
    }
  }

  private translate(err: unknown, action: string, key: string): Error {
    const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorLike;
    const name = e.name ?? '';
    const status = e.$metadata?.httpStatusCode;
    const where = `S3 endpoint ${this.endpointForDisplay} for bucket ${this.bucket}`;

    const code = networkCode(err);
    if (code) {
      return new ArtifactStoreUnavailableError(`cannot reach ${where}: ${code}`, { cause: err });
    }
    if (name === 'TimeoutError' || name === 'RequestTimeout') {
      return new ArtifactStoreUnavailableError(`cannot reach ${where}: timed out`, { cause: err });
    }
    // MinIO's name for a full disk; 507 is the status any WebDAV-derived server uses for it.
    if (action === 'put' && (name === 'XMinioStorageFull' || status === 507)) {
      return new ArtifactStoreFullError(key, this.location, name || 'HTTP 507', err);
    }
    if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
      return new ArtifactStoreUnavailableError(
        `no AWS credentials for ${where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE`,
        { cause: err },
      );
    }
    if (name === 'NoSuchBucket') {
      const message = `bucket ${this.bucket} does not exist at S3 endpoint ${this.endpointForDisplay}`;
      return new ArtifactStoreUnavailableError(message, { cause: err });
    }
    // Only an S3 error body says "no such key". A bare 404 to GET or LIST comes from a server
    // that is not S3 (a wrong endpoint, a proxy), and must not read as a missing artifact.
    // HEAD responses never carry a body, so there a 404 is all S3 can say.
    if (name === 'NoSuchKey' || (action === 'head' && (name === 'NotFound' || status === 404))) {
      return new ArtifactNotFoundError(key, this.location);
    }
    if (status === 404) {
      return new ArtifactStoreUnavailableError(
        `${where} answered HTTP 404 without an S3 error; check that the endpoint is an S3 server`,
        { cause: err },
      );
    }
    if (ACCESS_ERRORS.has(name) || status === 403) {
      const message = `${where} refused access (${name || status}); check the AWS credentials`;
      return new ArtifactStoreUnavailableError(message, { cause: err });
    }
    const detail = e.message ? `${name}: ${e.message}` : name || String(err);
    return new ArtifactStoreUnavailableError(`S3 ${action} of ${JSON.stringify(key)} at ${where} failed: ${detail}`, {
      cause: err,
    });
  }
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
  errors?: unknown[];
}

/**
 * Connect failures arrive in several shapes: a plain Node error with `code`, an AggregateError
 * (happy eyeballs), a `cause` chain, or only a message: the SDK's retry layer re-wraps errors
 * that fail its `instanceof Error` check (a Node error seen from a jest sandbox's other realm)
 * as `new Error("AWS SDK error wrapper for Error: connect ECONNREFUSED …")`, dropping `code`.
 */
function networkCode(err: unknown, depth = 0): string | undefined {
  if (depth > 3 || typeof err !== 'object' || err === null) return undefined;
  const e = err as ErrorLike;
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  const fromMessage = /\b(E[A-Z_]+)\b/.exec(e.message ?? '')?.[1];
  if (fromMessage && NETWORK_CODES.has(fromMessage)) return fromMessage;
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const code = networkCode(inner, depth + 1);
    if (code) return code;
  }
  return undefined;
}

function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

function defaultEndpoint(): string | undefined {
  return (
    nonEmpty(process.env.NAS_S3_ENDPOINT) ??
    nonEmpty(process.env.AWS_ENDPOINT_URL_S3) ??
    nonEmpty(process.env.AWS_ENDPOINT_URL)
  );
}

function envFlag(name: string): boolean | undefined {
  const value = nonEmpty(process.env[name])?.toLowerCase();
  if (value === undefined) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new Error(`${name}=${JSON.stringify(process.env[name])} is not a boolean; use true or false`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() ? value.trim() : undefined;
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.href.replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}
