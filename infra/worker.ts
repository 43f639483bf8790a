/**
 * A worker process's Temporal side: the workflow bundle plus every activity on the main task queue,
 * and one elastic-training slot on the elastic queue (so each process is at most one elastic
 * worker, and a process joining or dying is a worker joining or dying). Used in-process by
 * `nas run` (embedded mode) and by `nas worker` (cluster mode).
 */
import { NativeConnection, Worker, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import * as activities from '../activities';
import { elasticQueueOf } from '../workflows/task-queues';

export interface NasWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Training saturates the CPU; more than one activity per process only slows each down. */
  maxConcurrentActivities?: number;
  identity?: string;
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

/** The two Temporal workers of one process, run and stopped together. */
export interface NasWorker {
  run(): Promise<void>;
  /** Runs until `until` settles, then shuts both down; resolves or rejects with it. */
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
  const main = await Worker.create({
    ...common,
    taskQueue: opts.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 1,
  });
  // Elastic slots compute gradients while the main queue's activity (say, the coordinator) runs.
  const elastic = await Worker.create({
    ...common,
    taskQueue: elasticQueueOf(opts.taskQueue),
    activities: { elasticParticipant: activities.elasticParticipant },
    maxConcurrentActivityTaskExecutions: 1,
  });
  return {
    run: async () => {
      await Promise.all([main.run(), elastic.run()]);
    },
    runUntil: (until) => main.runUntil(elastic.runUntil(until)),
    shutdown: () => {
      for (const w of [main, elastic]) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
