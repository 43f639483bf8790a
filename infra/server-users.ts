/**
 * Who is using an embedded Temporal server, so that the last one out stops it.
 *
 * The embedded server is shared: `nas run` starts it, and `nas status`, `nas watch` or a second
 * `nas run` on the same work folder reuse it. Whoever started it cannot simply stop it when it is
 * done (a `nas watch` attached to the run would lose its server mid-sentence), and a `nas run`
 * killed with SIGKILL cannot stop it at all. So every process that uses the server records itself
 * in `<work dir>/temporal-server.users/`, and whoever leaves last, finding no other live user,
 * stops the server, even one a killed process started. A lock file makes "start or reuse, then
 * record myself" and "remove myself, then stop if alone" atomic with respect to each other.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { refOf, stillRunning, type ProcessRef } from './process-identity';

/** A lock older than this whose holder cannot be identified (an unreadable file) is abandoned. */
const ABANDONED_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 120_000;

interface UserRecord extends ProcessRef {
  /** What uses the server, for messages (`nas run`, `nas watch`). */
  what: string;
}

export interface ServerUser {
  pid: number;
  what: string;
}

function usersDir(workDir: string): string {
  return path.join(workDir, 'temporal-server.users');
}

/** Records this process as a user of the server in `workDir`; returns the record's file. */
export function addUser(workDir: string, what: string): string {
  const dir = usersDir(workDir);
  mkdirSync(dir, { recursive: true });
  // One process may hold the server twice (a command that also opens the runs), so each use has its own file.
  const file = path.join(dir, `${process.pid}-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify({ ...refOf(process.pid), what } satisfies UserRecord));
  return file;
}

export function removeUser(file: string): void {
  rmSync(file, { force: true });
}

/** The live users of the server, other than the ones whose records are in `except`; dead users' records are removed. */
export function liveUsers(workDir: string, except: string[] = []): ServerUser[] {
  const dir = usersDir(workDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const users: ServerUser[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (except.includes(file)) continue;
    let record: UserRecord | undefined;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as UserRecord;
    } catch {
      record = undefined;
    }
    if (record && stillRunning(record)) users.push({ pid: record.pid, what: record.what });
    else rmSync(file, { force: true });
  }
  return users;
}

export class ServerLockTimeoutError extends Error {}

/** Runs `body` holding `<work dir>/temporal-server.lock`; waits for another holder, takes over a dead one's. */
export async function withServerLock<T>(workDir: string, body: () => Promise<T>): Promise<T> {
  mkdirSync(workDir, { recursive: true });
  const lock = path.join(workDir, 'temporal-server.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(lock, JSON.stringify(refOf(process.pid)), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockHolder(lock);
    if (holder === 'gone') continue;
    if (holder === 'abandoned' || (holder !== 'filling' && !stillRunning(holder))) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      const who = holder === 'filling' ? 'another nas process' : `another nas process (pid ${holder.pid})`;
      throw new ServerLockTimeoutError(`${who} has held ${lock} for over ${LOCK_WAIT_MS / 1000} s; if no nas command is running, delete that file`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { force: true });
  }
}

function lockHolder(lock: string): ProcessRef | 'gone' | 'filling' | 'abandoned' {
  try {
    return JSON.parse(readFileSync(lock, 'utf8')) as ProcessRef;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    // Written but not yet filled (its holder is between open and write), or cut short by a crash.
    try {
      return Date.now() - statSync(lock).mtimeMs > ABANDONED_LOCK_MS ? 'abandoned' : 'filling';
    } catch {
      return 'gone';
    }
  }
}
