/**
 * The elastic data plane's credentials, derived from a key that only the processes of this
 * installation hold: never written to Temporal or to the artifact store.
 *
 * - The key: `NAS_DATA_PLANE_KEY` (at least 32 characters; set the same value on every machine of
 *   a cluster), else a random key in `$XDG_CONFIG_HOME/hwnas/data-plane.key` (default
 *   `~/.config/hwnas/`), created with mode 0600 on first use, so one machine (the embedded mode,
 *   `nas run --workers N`) needs no setup. Not in the work folder: that folder also holds the local
 *   artifact store, and whoever can write artifacts must not be able to read the key.
 * - The bearer token of one training: HMAC-SHA256(key, salt), the salt a random id the workflow
 *   makes per training and passes in the activities' input. Every data-plane request carries it
 *   (`bearer`), and the plane checks it before reading a byte of the body (`carriesToken`).
 * - coordinator.json: signed with HMAC-SHA256(key, its fields + the run, stage and salt it is for).
 *
 * Why this is safe against someone who reads the Temporal history: it holds the salt, and HMAC is
 * a pseudo-random function of the key: without the key, the salt tells nothing about the token.
 * Against someone who can write (and read) the artifact store: the store holds no secret, and a
 * coordinator.json they write cannot carry a valid signature without the key, so a worker refuses
 * it before sending a single request (its bearer token included) to the URL it names; a genuine
 * record copied from another training or run does not verify either, since the signature covers
 * the run, the stage and the salt. What remains is what any store writer can do anyway: delete or
 * corrupt artifacts, which stops a run but does not hand out the token.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

export const DATA_PLANE_KEY_ENV = 'NAS_DATA_PLANE_KEY';
const MIN_KEY_CHARS = 32;

/** The key cannot be had: missing, too short, or its file open to other users. A retry cannot fix it. */
export class DataPlaneKeyError extends Error {
  constructor(detail: string) {
    super(`elastic data-plane key: ${detail}`);
    this.name = 'DataPlaneKeyError';
  }
}

/** The key file this process uses when NAS_DATA_PLANE_KEY is not set. */
export function dataPlaneKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(config, 'hwnas', 'data-plane.key');
}

function readKeyFile(file: string): Buffer {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new DataPlaneKeyError(`${file} is readable or writable by other users (mode ${mode.toString(8).padStart(4, '0')}); make it private with chmod 600 ${file}`);
  }
  const text = readFileSync(file, 'utf8').trim();
  if (text.length < MIN_KEY_CHARS) throw new DataPlaneKeyError(`${file} holds ${text.length} characters, fewer than ${MIN_KEY_CHARS}; delete it and a new one is made`);
  return Buffer.from(text, 'utf8');
}

/**
 * Creates the key file with a random key, atomically: written in full under a temporary name with
 * mode 0600, then linked to its name, which fails if another process won the race (its key is then
 * the one read). A reader never sees a half-written key.
 */
function createKeyFile(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(temp);
  }
}

/** This installation's data-plane key (see the top of this file); read at each call (once per activity attempt). */
export function loadDataPlaneKey(env: NodeJS.ProcessEnv = process.env): Buffer {
  const given = env[DATA_PLANE_KEY_ENV];
  if (given !== undefined && given !== '') {
    if (given.length < MIN_KEY_CHARS) throw new DataPlaneKeyError(`${DATA_PLANE_KEY_ENV} has ${given.length} characters, fewer than ${MIN_KEY_CHARS} (e.g. openssl rand -hex 32)`);
    return Buffer.from(given, 'utf8');
  }
  const file = dataPlaneKeyFile(env);
  try {
    try {
      return readKeyFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      createKeyFile(file);
      return readKeyFile(file);
    }
  } catch (err) {
    if (err instanceof DataPlaneKeyError) throw err;
    throw new DataPlaneKeyError(`cannot read or create ${file} (${(err as Error).message}); set ${DATA_PLANE_KEY_ENV} instead`);
  }
}

/** Domain separation: a token is never a valid record signature, nor the reverse. */
const TOKEN_CONTEXT = 'hwnas elastic data-plane token v1\0';
const RECORD_CONTEXT = 'hwnas elastic coordinator record v1\0';

/** The bearer token of the training whose salt this is. */
export function deriveToken(key: Buffer, salt: string): string {
  if (!salt) throw new Error('a data-plane token needs the training salt');
  return createHmac('sha256', key).update(TOKEN_CONTEXT + salt).digest('base64url');
}

/** The `authorization` header value that carries `token` on every data-plane request. */
export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** Whether a request's `authorization` header carries `token`, compared in constant time. */
export function carriesToken(authorization: string | undefined, token: string): boolean {
  return sameSecret(Buffer.from(String(authorization ?? '')), Buffer.from(bearer(token)));
}

/** Constant-time equality, so the time taken tells nothing about how much of a guess was right. */
function sameSecret(given: Buffer, wanted: Buffer): boolean {
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Where workers find the coordinator: its URL and attempt (no secret), and a signature over them. */
export interface CoordinatorRecord {
  url: string;
  attempt: number;
  worker: string;
  startedAt: string;
  /** HMAC over the fields above and the training they belong to (see recordSignature). */
  signature?: string;
}

/** Which training a record is for: not stored in it, supplied by whoever signs or checks it. */
export interface RecordScope {
  runId: string;
  stage: string;
  salt: string;
}

function recordSignature(key: Buffer, record: CoordinatorRecord, scope: RecordScope): string {
  // A fixed field order, not the record's own: the bytes signed are the same on every side.
  const signed = JSON.stringify([scope.runId, scope.stage, scope.salt, record.url, record.attempt, record.worker, record.startedAt]);
  return createHmac('sha256', key).update(RECORD_CONTEXT + signed).digest('hex');
}

export function signCoordinatorRecord(key: Buffer, record: Omit<CoordinatorRecord, 'signature'>, scope: RecordScope): CoordinatorRecord {
  const fields = { url: record.url, attempt: record.attempt, worker: record.worker, startedAt: record.startedAt };
  return { ...fields, signature: recordSignature(key, fields, scope) };
}

/** A coordinator.json that does not verify: forged, of another training, or signed with another key. */
export class CoordinatorRecordRejectedError extends Error {
  constructor(where: string, detail: string) {
    super(
      `refusing the coordinator record ${where}: ${detail}. No request was sent to the URL it names. ` +
        `It was written by something without this installation's data-plane key, or the coordinator's machine uses another key: ` +
        `set the same ${DATA_PLANE_KEY_ENV} on every machine`,
    );
    this.name = 'CoordinatorRecordRejectedError';
  }
}

/** Returns the record if its signature verifies for this training; throws CoordinatorRecordRejectedError otherwise. */
export function verifyCoordinatorRecord(key: Buffer, record: unknown, scope: RecordScope, where: string): CoordinatorRecord {
  const r = record as Partial<CoordinatorRecord> | null;
  if (!r || typeof r !== 'object' || typeof r.url !== 'string' || typeof r.attempt !== 'number' || typeof r.worker !== 'string' || typeof r.startedAt !== 'string') {
    throw new CoordinatorRecordRejectedError(where, 'it is not a coordinator record');
  }
  if (typeof r.signature !== 'string') throw new CoordinatorRecordRejectedError(where, 'it carries no signature');
  const wanted = Buffer.from(recordSignature(key, r as CoordinatorRecord, scope), 'hex');
  const given = Buffer.from(r.signature, 'hex');
  if (!sameSecret(given, wanted)) throw new CoordinatorRecordRejectedError(where, 'its signature does not verify');
  return { url: r.url, attempt: r.attempt, worker: r.worker, startedAt: r.startedAt, signature: r.signature };
}
