/**
 * A pool of `nas worker` processes (the compiled CLI, as users run it), each with its own Temporal
 * identity so the suite can tell from Temporal which process holds which activity. Killed workers
 * are replaced at once; a worker that exits without being killed is a finding, kept for the report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../infra/paths';

/**
 * The argv that runs `nas ARGS` from a compiled CLI entry (dist/cli/main.js or a copy of it), as
 * bin/nas.js does: run the command, then exit.
 */
export function nasArgv(cliMain: string, args: string[]): string[] {
  return ['-e', 'require(process.argv[1]).main(process.argv.slice(2)).then(() => process.exit())', cliMain, ...args];
}

export interface PoolWorker {
  identity: string;
  child: ChildProcess;
  startedAt: number;
  /** When it printed that it serves the task queues. */
  readyAt?: number;
  killedAt?: number;
  exited?: { code: number | null; signal: NodeJS.Signals | null; at: number };
  /** It exited on its own: neither killed by the suite nor stopped at the end. */
  unexpected?: boolean;
  logFile: string;
}

export class WorkerPool {
  readonly workers: PoolWorker[] = [];
  private next = 1;
  private stopping = false;

  constructor(
    /** The compiled CLI entry the workers run. */
    private readonly cliMain: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly size: number,
    private readonly logDir: string,
    private readonly prefix: string,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  /** Starts `size` workers and waits until every one serves its queues. */
  async start(timeoutMs = 120_000): Promise<void> {
    const started = Array.from({ length: this.size }, () => this.spawn());
    const deadline = Date.now() + timeoutMs;
    while (started.some((w) => w.readyAt === undefined)) {
      const dead = started.find((w) => w.exited);
      if (dead) throw new Error(`worker ${dead.identity} exited while starting (see ${dead.logFile})`);
      if (Date.now() > deadline) throw new Error(`workers did not start within ${timeoutMs / 1000} s (see ${this.logDir})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  spawn(): PoolWorker {
    const identity = `${this.prefix}-${this.next++}`;
    const logFile = join(this.logDir, `${identity}.log`);
    const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, nasArgv(this.cliMain, ['worker', '--identity', identity]), { env: this.env, cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    const worker: PoolWorker = { identity, child, startedAt: Date.now(), logFile };
    child.stdout!.on('data', (d: Buffer) => {
      log.write(d);
      if (worker.readyAt === undefined && d.toString().includes('serving task queues')) worker.readyAt = Date.now();
    });
    child.stderr!.on('data', (d: Buffer) => log.write(d));
    child.once('exit', (code, signal) => {
      worker.exited = { code, signal, at: Date.now() };
      worker.unexpected = worker.killedAt === undefined && !this.stopping;
      log.end();
    });
    this.workers.push(worker);
    return worker;
  }

  /** Alive, not killed by the suite. */
  live(): PoolWorker[] {
    return this.workers.filter((w) => !w.exited && w.killedAt === undefined);
  }

  ready(): PoolWorker[] {
    return this.live().filter((w) => w.readyAt !== undefined);
  }

  byIdentity(identity: string | undefined): PoolWorker | undefined {
    return this.workers.find((w) => w.identity === identity);
  }

  /** SIGKILL, and a replacement started at once; returns the replacement. */
  kill(worker: PoolWorker): PoolWorker {
    worker.killedAt = Date.now();
    worker.child.kill('SIGKILL');
    return this.spawn();
  }

  /** Workers that exited although nobody killed them (during the run, not at shutdown). */
  unexpectedExits(): PoolWorker[] {
    return this.workers.filter((w) => w.unexpected);
  }

  async stop(graceMs = 8_000): Promise<void> {
    this.stopping = true;
    const running = this.workers.filter((w) => !w.exited);
    await Promise.all(
      running.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exited) return resolve();
            w.child.once('exit', () => resolve());
            w.child.kill('SIGTERM');
            setTimeout(() => w.child.kill('SIGKILL'), graceMs).unref();
          }),
      ),
    );
  }
}
