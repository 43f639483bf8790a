/**
 * A worker process's Temporal side: the workflow bundle plus every activity, on one task queue.
 * Used in-process by `nas run` (embedded mode) and by `nas worker` (cluster mode).
 */
import { NativeConnection, Worker, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import * as activities from '../activities';

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
  Runtime.install({ logger: new DefaultLogger(level) });
  runtimeInstalled = true;
}

export async function createNasWorker(opts: NasWorkerOptions): Promise<Worker> {
  installRuntime();
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 1,
    ...(opts.identity ? { identity: opts.identity } : {}),
    // Checkpoints bound what a kill loses; a graceful stop should not wait for a whole epoch.
    shutdownGraceTime: '5s',
  });
}
