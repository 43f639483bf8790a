/**
 * A worker process's Temporal side, one Temporal worker per task queue (workflows/task-queues.ts):
 * the workflow bundle plus every activity on the main queue, one trial at a time on the trials
 * queue, and one elastic-training slot on the elastic queue (so each process is at most one elastic
 * worker, and a process joining or dying is a worker joining or dying). Used in-process by `nas run`
 * (embedded mode), by `nas worker` (cluster mode) and by the processes `nas run --workers` adds,
 * which serve the trials and elastic queues only.
 */
import { NativeConnection, Worker, Runtime, DefaultLogger, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import * as activities from '../activities';
import { elasticQueueOf, trialQueueOf } from '../workflows/task-queues';

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
}

type QueueRole = 'main' | 'trials' | 'elastic';

/** The one place that says which queues a process polls; createNasWorker and the printout follow it. */
function queuesOf(taskQueue: string, parallelWorkOnly: boolean): { role: QueueRole; queue: string }[] {
  const parallel = [
    { role: 'trials' as const, queue: trialQueueOf(taskQueue) },
    { role: 'elastic' as const, queue: elasticQueueOf(taskQueue) },
  ];
  return parallelWorkOnly ? parallel : [{ role: 'main', queue: taskQueue }, ...parallel];
}

/** What a Temporal worker of each role runs, given the process's activity slots. */
const ROLE_OPTIONS: Record<QueueRole, (slots: number) => Partial<WorkerOptions>> = {
  main: (slots) => ({ workflowsPath: require.resolve('../workflows'), activities, maxConcurrentActivityTaskExecutions: slots }),
  trials: (slots) => ({ activities: { trainTrial: activities.trainTrial, scalingTrial: activities.scalingTrial }, maxConcurrentActivityTaskExecutions: slots }),
  // Its own worker, so slots compute gradients while the main queue's coordinator runs.
  elastic: () => ({ activities: { elasticParticipant: activities.elasticParticipant }, maxConcurrentActivityTaskExecutions: 1 }),
};

/** The task queues a worker process polls. */
export function servedQueues(taskQueue: string, parallelWorkOnly = false): string[] {
  return queuesOf(taskQueue, parallelWorkOnly).map((q) => q.queue);
}

let runtimeInstalled = false;

/**
 * Quiet Temporal's own logging (the CLI prints progress itself); `NAS_LOG_LEVEL` overrides. Must run
 * before the first NativeConnection, which instantiates the runtime with defaults otherwise.
 */
export function installRuntime(level: LogLevel = (process.env.NAS_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  if (runtimeInstalled) return;
  const standard = new DefaultLogger(level);
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      // The elastic queue's worker runs activities only; Temporal warns about that on every start.
      if (entry.message.startsWith('No workflows registered')) return;
      standard.log(entry.level, entry.message, entry.meta);
    }),
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
    // Checkpoints bound what a kill loses; a graceful stop should not wait for a whole epoch.
    shutdownGraceTime: '5s' as const,
    // Heartbeats carry progress (`nas status`, `watch`, the fault suite's lost-work measure). By
    // default they reach the server only every 0.8 x heartbeat timeout, so progress seen from
    // outside would lag by up to that; one a second per running activity is cheap.
    maxHeartbeatThrottleInterval: '1s' as const,
  };
  const slots = opts.maxConcurrentActivities ?? 1;
  const workers: Worker[] = [];
  for (const { role, queue } of queuesOf(opts.taskQueue, opts.parallelWorkOnly ?? false)) {
    workers.push(await Worker.create({ ...common, taskQueue: queue, ...ROLE_OPTIONS[role](slots) }));
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
