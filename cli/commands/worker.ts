/**
 * `nas worker`: one worker process for a Temporal cluster. Start any number, on any machines that
 * reach the cluster and the artifact store; they share the task queue and split the work.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { clusterFromEnv } from '../../infra/temporal-connection';
import { createNasWorker, installRuntime, servedQueues } from '../../infra/worker';
import { loadTf } from '../../engine/backend';
import { CliError, EXIT_BAD_INPUT } from '../errors';

const HELP = `usage: nas worker [--identity NAME] [--parallel-only]

Connects to TEMPORAL_ADDRESS (namespace TEMPORAL_NAMESPACE, task queue NAS_TASK_QUEUE, TLS from
TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA) and runs pipeline work until SIGINT/SIGTERM.

  --parallel-only   take only work that runs side by side (trials, elastic-training slots), not
                    workflows or the activities that run one at a time; for a process that has a
                    share of a machine's cores while another process on it has them all (what
                    \`nas run --workers\` starts)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      identity: { type: 'string' },
      'parallel-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const cluster = clusterFromEnv();
  if (!cluster) {
    throw new CliError('TEMPORAL_ADDRESS is not set: a worker needs a cluster to serve (`nas run` alone runs its own)', EXIT_BAD_INPUT);
  }
  // Fail before joining the queue if this machine cannot train at all.
  loadTf();
  installRuntime();
  const connection = await NativeConnection.connect({ address: cluster.address, tls: cluster.tls }).catch((err: Error) => {
    throw new CliError(`cannot reach Temporal at ${cluster.address}: ${err.message}`);
  });
  const identity = values.identity ?? `nas-worker-${process.pid}@${hostname()}`;
  const parallelWorkOnly = values['parallel-only'];
  const worker = await createNasWorker({ connection, namespace: cluster.namespace, taskQueue: cluster.taskQueue, identity, parallelWorkOnly });
  console.log(`worker ${identity} serving task queues ${servedQueues(cluster.taskQueue, parallelWorkOnly).join(', ')} on ${cluster.address} (namespace ${cluster.namespace})`);
  try {
    const running = worker.run();
    if (process.send) {
      // Started by `nas run --workers` (infra/local-workers.ts): the IPC channel closes when that
      // process ends, however it ends, and this worker's run ends with it.
      if (process.connected) process.once('disconnect', () => worker.shutdown());
      else worker.shutdown();
    }
    await running;
  } finally {
    await connection.close();
  }
  return 0;
}
