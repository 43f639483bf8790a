/**
 * Extra worker processes for an embedded run (`nas run --workers N`): N - 1 `nas worker
 * --parallel-only` children on the embedded dev server beside the in-process worker. A process is
 * one elastic participant and one trial at a time (infra/worker.ts), so this is how one machine with
 * cores to spare trains with more than one; the work that runs alone stays with the parent.
 *
 * Each child is tied to its parent by an IPC channel, which the operating system closes however
 * the parent ends (SIGKILL included); the child then shuts down (cli/commands/worker.ts). So no
 * worker outlives its run, polling a server that is gone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './paths';

export interface LocalWorkersOptions {
  /** Worker processes to start (the in-process worker is not counted). */
  count: number;
  address: string;
  namespace: string;
  taskQueue: string;
  /** Each child's output goes to `<logDir>/worker-<i>.log`, away from the run's progress display. */
  logDir: string;
  /** Called when a child ends on its own (not by `stop`): the run goes on without it. */
  onExit?: (worker: LocalWorker, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface LocalWorker {
  index: number;
  pid: number;
  log: string;
}

export interface LocalWorkers {
  workers: LocalWorker[];
  /** SIGTERM to every child (graceful: running activities get their grace time), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Intra-op threads for each added process when the user has not chosen: the cores split evenly, at
 * least one. TensorFlow's default (all cores per process) would have N processes fight over the
 * same cores. The parent keeps the default: it also hosts the coordinator and the evaluation, and
 * this is the split measured on 2 cores (the fuller example, about 40% faster than one process).
 */
export function threadsPerProcess(processes: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / processes));
}

/** The embedded server speaks plain gRPC on loopback: TLS settings meant for a cluster must not reach the children. */
function withoutClusterSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('TEMPORAL_TLS')));
}

export function startLocalWorkers(opts: LocalWorkersOptions): LocalWorkers {
  mkdirSync(opts.logDir, { recursive: true });
  const entry = path.join(repoRoot(), 'bin', 'nas.js');
  const threads = String(threadsPerProcess(opts.count + 1));
  const children: Array<{ worker: LocalWorker; child: ChildProcess; exited: Promise<void> }> = [];
  let stopping = false;

  for (let index = 1; index <= opts.count; index++) {
    const log = path.join(opts.logDir, `worker-${index}.log`);
    const fd = openSync(log, 'a');
    const child = fork(entry, ['worker', '--identity', `nas-local-${index}-${process.pid}`, '--parallel-only'], {
      env: {
        ...withoutClusterSettings(process.env),
        TEMPORAL_ADDRESS: opts.address,
        TEMPORAL_NAMESPACE: opts.namespace,
        NAS_TASK_QUEUE: opts.taskQueue,
        TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? threads,
      },
      stdio: ['ignore', fd, fd, 'ipc'],
    });
    // The child holds its own copy of the descriptor from here on.
    closeSync(fd);
    const worker: LocalWorker = { index, pid: child.pid ?? -1, log };
    const exited = new Promise<void>((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        if (!stopping) opts.onExit?.(worker, code, signal);
        resolve();
      };
      child.on('exit', end);
      // A child that could not be started at all reports here, and may never report an exit.
      child.on('error', () => end(null, null));
    });
    children.push({ worker, child, exited });
  }

  return {
    workers: children.map((c) => c.worker),
    stop: async (graceMs = 15_000) => {
      stopping = true;
      const running = children.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
      for (const c of running) c.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const c of running) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      }, graceMs);
      await Promise.all(running.map((c) => c.exited));
      clearTimeout(timer);
    },
  };
}
