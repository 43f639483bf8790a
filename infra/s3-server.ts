/**
 * A real S3-compatible server (MinIO) on a loopback port, for tests and the fault-injection
 * suite. A real server rather than a mock, because the failures worth testing (connection
 * refused mid-run, a restart, an object rewritten behind our back) live in the network and the
 * server, not in our code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

import { freePort } from './free-port';
import { repoRoot } from './paths';

export interface StartS3ServerOptions {
  /** Where MinIO keeps its objects; reuse it across restarts to keep the data. */
  dataDir: string;
  /** Fixed port (for restarting on the same endpoint); a free one by default. */
  port?: number;
  /** How long to wait for the health check; MinIO normally answers in one or two seconds. */
  startTimeoutMs?: number;
  /** Root credentials; random by default. Pass the old ones when restarting on the same data. */
  accessKey?: string;
  secretKey?: string;
}

export interface S3Server {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  port: number;
  dataDir: string;
  /** MinIO's process id: the fault-injection suite pauses it (SIGSTOP) to make the store unavailable. */
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period); safe to call twice. */
  stop(): Promise<void>;
}

const REPO_ROOT = repoRoot();
const OUTPUT_TAIL_BYTES = 4_000;
const STOP_GRACE_MS = 5_000;

/** `NAS_MINIO_BIN`, else the repo's `.tools/bin/minio`, else `minio` on PATH. */
export function findMinioBinary(): string {
  const fromEnv = process.env.NAS_MINIO_BIN?.trim();
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`NAS_MINIO_BIN=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const candidates = [path.join(REPO_ROOT, '.tools', 'bin', 'minio')];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'minio'));
  }
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new Error(
      'MinIO binary not found (looked at NAS_MINIO_BIN, .tools/bin/minio and PATH). Install it with ' +
        '`GOBIN=$PWD/.tools/bin go install github.com/minio/minio@latest` or set NAS_MINIO_BIN.',
    );
  }
  return found;
}

export async function startS3Server(options: StartS3ServerOptions): Promise<S3Server> {
  const binary = findMinioBinary();
  mkdirSync(options.dataDir, { recursive: true });
  const accessKey = options.accessKey ?? `nas${randomBytes(6).toString('hex')}`;
  const secretKey = options.secretKey ?? randomBytes(16).toString('hex');
  // A port found free can be taken before MinIO binds it; only a port we chose may be re-chosen.
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    const consolePort = await freePort();
    try {
      return await startOnce(binary, options, port, consolePort, accessKey, secretKey);
    } catch (err) {
      lastError = err as Error;
      if (!(err instanceof PortInUseError)) throw err;
    }
  }
  throw lastError;
}

class PortInUseError extends Error {}

async function startOnce(
  binary: string,
  options: StartS3ServerOptions,
  port: number,
  consolePort: number,
  accessKey: string,
  secretKey: string,
): Promise<S3Server> {
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    ['server', options.dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`],
    {
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        // No phoning home from tests.
        MINIO_UPDATE: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );

  // MinIO logs fatal startup errors to either stream; keep a tail of both for error messages
  // (and drain them, or a full pipe would stall the server).
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited ??= { code: null, signal: null };
      resolve();
    });
  });
  // If the test process dies without stop(), do not leave a server holding the port.
  const killOnExit = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    await stopChild(child, () => exited !== undefined, exitPromise);
  };

  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const describeTail = (): string => (tail.trim() ? `; last output:\n${tail.trim()}` : '; it printed nothing');
  while (true) {
    if (spawnError) {
      await stop();
      throw new Error(`could not start MinIO (${binary}): ${spawnError.message}`);
    }
    if (exited) {
      await stop();
      const how = exited.signal ? `signal ${exited.signal}` : `code ${exited.code}`;
      const message = `MinIO (${binary}) exited with ${how} before serving ${endpoint}${describeTail()}`;
      if (/address already in use|bind:/i.test(tail)) throw new PortInUseError(message);
      throw new Error(message);
    }
    if (await isLive(endpoint)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`MinIO did not become healthy at ${endpoint} within ${timeoutMs} ms${describeTail()}`);
    }
    await sleep(100);
  }

  return { endpoint, accessKey, secretKey, port, dataDir: options.dataDir, pid: child.pid!, stop };
}

async function isLive(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(1_000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, hasExited: () => boolean, exitPromise: Promise<void>): Promise<void> {
  if (hasExited()) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_GRACE_MS);
  });
  const result = await Promise.race([exitPromise, graceOver]);
  clearTimeout(timer);
  if (result === 'timeout' && !hasExited()) {
    child.kill('SIGKILL');
    await exitPromise;
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
