/**
 * A worker process's Temporal side, one Temporal worker per task queue (workflows/task-queues.ts):
 * the workflow bundle plus every activity on the main queue, one trial at a time on the trials
 * queue, and one elastic-training slot on the elastic queue (so each process is at most one elastic
 * worker, and a process joining or dying is a worker joining or dying). Used in-process by `nas run`
 * (embedded mode), by `nas worker` (cluster mode) and by the processes `nas run --workers` adds,
 * which serve the trials and elastic queues only.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { NativeConnection, Worker, Runtime, DefaultLogger, type LogLevel, type WorkflowBundle, type WorkerOptions } from '@temporalio/worker';
import * as activities from '../activities';
import { elasticQueueOf, strategyQueueOf, trialQueueOf } from '../workflows/task-queues';
import { fileLine, terminalLine } from './log-lines';
import { workflowBundle, type StrategySet } from './workflow-bundle';

export interface NasWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Training saturates the CPU; more than one activity per process only slows each down. */
  maxConcurrentActivities?: number;
  identity?: string;
  /**
   * Serve only the trials and elastic queues, not workflows or the activities that run alone: a
   * process with a share of the cores (`nas run --workers`) then never holds up a search epoch or
   * an evaluation that the process with all of them could run.
   */
  parallelWorkOnly?: boolean;
  /**
   * User strategy modules to serve: the process also polls each set's own queue, with workflow code
   * holding them all (infra/workflow-bundle.ts); its main queue gets the same code, a superset of the
   * built-ins' that runs their searches identically.
   */
  strategySets?: StrategySet[];
}

type QueueRole = 'main' | 'strategies' | 'trials' | 'elastic';

/** The one place that says which queues a process polls; createNasWorker and the printout follow it. */
function queuesOf(taskQueue: string, parallelWorkOnly: boolean, strategySets: readonly StrategySet[] = []): { role: QueueRole; queue: string }[] {
  const parallel = [
    { role: 'trials' as const, queue: trialQueueOf(taskQueue) },
    { role: 'elastic' as const, queue: elasticQueueOf(taskQueue) },
  ];
  if (parallelWorkOnly) return parallel;
  const strategies = strategySets.map((set) => ({ role: 'strategies' as const, queue: strategyQueueOf(taskQueue, set.id) }));
  return [{ role: 'main', queue: taskQueue }, ...strategies, ...parallel];
}

/** What a Temporal worker of each role runs, given the process's activity slots and workflow code. */
const ROLE_OPTIONS: Record<QueueRole, (slots: number, code: WorkflowBundle | undefined) => Partial<WorkerOptions>> = {
  main: (slots, code) => ({ workflowBundle: code, activities, maxConcurrentActivityTaskExecutions: slots }),
  // Workflows only: a search on this queue sends its activities to the main and trials queues.
  strategies: (_slots, code) => ({ workflowBundle: code }),
  trials: (slots) => ({ activities: { trainTrial: activities.trainTrial, scalingTrial: activities.scalingTrial }, maxConcurrentActivityTaskExecutions: slots }),
  // Its own worker, so slots compute gradients while the main queue's coordinator runs.
  elastic: () => ({ activities: { elasticParticipant: activities.elasticParticipant }, maxConcurrentActivityTaskExecutions: 1 }),
};

/** The task queues a worker process polls. */
export function servedQueues(taskQueue: string, parallelWorkOnly = false, strategySets: readonly StrategySet[] = []): string[] {
  return queuesOf(taskQueue, parallelWorkOnly, strategySets).map((q) => q.queue);
}

let runtimeInstalled = false;

/**
 * Quiet Temporal's own logging (the CLI prints progress itself); `NAS_LOG_LEVEL` overrides. Must run
 * before the first NativeConnection, which instantiates the runtime with defaults otherwise.
 */
export interface RuntimeLogging {
  level?: LogLevel;
  /**
   * Where the SDK's log lines go, plain text, appended. Without one they go to stderr (a `nas
   * worker`'s log is its output); with one, only there unless `echo`, so that they never break
   * into the progress line of an interactive `nas run`.
   */
  file?: string;
  echo?: boolean;
}

export function installRuntime({ level = (process.env.NAS_LOG_LEVEL as LogLevel | undefined) ?? 'WARN', file, echo = false }: RuntimeLogging = {}): void {
  if (runtimeInstalled) return;
  if (file) mkdirSync(path.dirname(file), { recursive: true });
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      // The elastic queue's worker runs activities only, a strategy set's workflows only; Temporal
      // warns about either on every start.
      if (entry.message.startsWith('No workflows registered') || entry.message.startsWith('No activities registered')) return;
      // At DEBUG and below the terminal gets everything, stacks included.
      if (!file || echo) process.stderr.write(level === 'DEBUG' || level === 'TRACE' ? fileLine(entry) : terminalLine(entry));
      if (file) appendFileSync(file, fileLine(entry));
    }),
    // The Rust core's own messages (a lost server, a failed poll) come through the same logger
    // rather than straight to the console, where they would break into the progress line.
    telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } },
  });
  runtimeInstalled = true;
}

/** The workers stopped (a signal, a shutdown) before the work they were run for had settled. */
export class WorkersStoppedError extends Error {
  constructor() {
    super('the workers stopped before the run ended');
    this.name = 'WorkersStoppedError';
  }
}

/** The Temporal workers of one process, run and stopped together. */
export interface NasWorker {
  run(): Promise<void>;
  /**
   * Runs until `until` settles, then shuts all down; resolves or rejects with it once every worker
   * has stopped (so the connection may close). Workers stopped first, by a signal, reject it with
   * WorkersStoppedError.
   */
  runUntil<T>(until: Promise<T>): Promise<T>;
  shutdown(): void;
}

export async function createNasWorker(opts: NasWorkerOptions): Promise<NasWorker> {
  installRuntime();
  const common = {
    connection: opts.connection,
    namespace: opts.namespace,
    ...(opts.identity ? { identity: opts.identity } : {}),
    // A graceful stop (Ctrl-C, SIGTERM) cancels running activities at once: a trainer then writes a
    // checkpoint at its next step and stops, which is what `nas run` promises on Ctrl-C. A grace
    // period would let it train on unseen for that long, or even finish the stage while the run is
    // reported as stopped.
    shutdownGraceTime: 0,
    // Heartbeats carry progress (`nas status`, `watch`, the fault suite's lost-work measure). By
    // default they reach the server only every 0.8 x heartbeat timeout, so progress seen from
    // outside would lag by up to that; one a second per running activity is cheap.
    maxHeartbeatThrottleInterval: '1s' as const,
  };
  const slots = opts.maxConcurrentActivities ?? 1;
  const queues = queuesOf(opts.taskQueue, opts.parallelWorkOnly ?? false, opts.strategySets);
  const code = queues.some((q) => q.role === 'main') ? await workflowBundle(opts.strategySets) : undefined;
  const workers: Worker[] = [];
  for (const { role, queue } of queues) {
    workers.push(await Worker.create({ ...common, taskQueue: queue, ...ROLE_OPTIONS[role](slots, code) }));
  }
  const shutdown = (): void => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    runUntil: async <T>(until: Promise<T>): Promise<T> => {
      // Not the SDK's own runUntil, nested: when a signal stopped the workers first, that gave up
      // on `until` as soon as the innermost had stopped, while others still held the connection.
      const runs = workers.map((w) => w.run());
      const stopped = Promise.allSettled(runs).then(() => {
        throw new WorkersStoppedError();
      });
      // Whichever loses the race settles unobserved later: it must not end the process as unhandled.
      stopped.catch(() => undefined);
      until.catch(() => undefined);
      try {
        return await Promise.race([until, stopped]);
      } finally {
        shutdown();
        const ended = await Promise.allSettled(runs);
        // A failed worker is the error to report, not what it left unfinished.
        for (const r of ended) if (r.status === 'rejected') throw r.reason;
      }
    },
    shutdown,
  };
}
