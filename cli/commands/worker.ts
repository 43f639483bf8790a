/**
 * `nas worker`: one worker process for a Temporal cluster. Start any number, on any machines that
 * reach the cluster and the artifact store; they share the task queue and split the work.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { clusterFromEnv } from '../../infra/temporal-connection';
import { createNasWorker, installRuntime, servedQueues } from '../../infra/worker';
import { strategySetsOf, type StrategySet } from '../../infra/workflow-bundle';
import { loadTf } from '../../engine/backend';
import { PluginLoadError, resolvePluginSpec } from '../../plugins/load';
import { CliError, EXIT_BAD_INPUT } from '../errors';

const HELP = `usage: nas worker [--plugins PATH|PACKAGE ...] [--identity NAME] [--parallel-only]

Connects to TEMPORAL_ADDRESS (namespace TEMPORAL_NAMESPACE, task queue NAS_TASK_QUEUE, TLS from
TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA) and runs pipeline work until SIGINT/SIGTERM.

  --plugins SPEC    a plugin module (a path, or an installed package) whose multi-trial strategies
                    this worker serves; repeat it for more. A run that uses a user strategy waits
                    for a worker holding the very same file (its content hash keys the task queue)
  --parallel-only   take only work that runs side by side (trials, elastic-training slots), not
                    workflows or the activities that run one at a time; for a process that has a
                    share of a machine's cores while another process on it has them all (what
                    \`nas run --workers\` starts)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      identity: { type: 'string' },
      plugins: { type: 'string', multiple: true, default: [] },
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
  const strategySets = serveStrategies(values.plugins ?? []);
  if (strategySets.length > 0 && values['parallel-only']) {
    throw new CliError('--plugins serves search workflows, which --parallel-only workers do not run: drop one of them', EXIT_BAD_INPUT);
  }
  // Fail before joining the queue if this machine cannot train at all.
  loadTf();
  installRuntime();
  const connection = await NativeConnection.connect({ address: cluster.address, tls: cluster.tls }).catch((err: Error) => {
    throw new CliError(`cannot reach Temporal at ${cluster.address}: ${err.message}`);
  });
  const identity = values.identity ?? `nas-worker-${process.pid}@${hostname()}`;
  const parallelWorkOnly = values['parallel-only'];
  const worker = await createNasWorker({ connection, namespace: cluster.namespace, taskQueue: cluster.taskQueue, identity, parallelWorkOnly, strategySets }).catch((err: Error) => {
    throw err instanceof PluginLoadError ? new CliError(err.message, EXIT_BAD_INPUT) : err;
  });
  for (const set of strategySets) {
    for (const m of set.modules) console.log(`strategies ${m.strategies.join(', ')} from ${m.file} (sha256 ${m.sha256.slice(0, 12)}): strategy set ${set.id}`);
  }
  console.log(`worker ${identity} serving task queues ${servedQueues(cluster.taskQueue, parallelWorkOnly, strategySets).join(', ')} on ${cluster.address} (namespace ${cluster.namespace})`);
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

/** The strategy sets of the `--plugins` modules, each named in the error when it cannot be loaded. */
function serveStrategies(specs: string[]): StrategySet[] {
  const files = specs.map((spec) => {
    try {
      // A plain relative path that exists is a path, as a shell user means it, not a package name.
      return resolvePluginSpec(existsSync(spec) && !isAbsolute(spec) && !spec.startsWith('.') ? `./${spec}` : spec, process.cwd());
    } catch (err) {
      throw new CliError(`--plugins ${spec}: ${(err as Error).message}`, EXIT_BAD_INPUT);
    }
  });
  let sets: StrategySet[];
  try {
    sets = strategySetsOf(files);
  } catch (err) {
    throw new CliError(`--plugins: ${(err as Error).message}`, EXIT_BAD_INPUT);
  }
  const served = new Set(sets.flatMap((s) => s.modules.map((m) => m.file)));
  const without = files.filter((f) => !served.has(f));
  if (without.length > 0) {
    throw new CliError(`--plugins ${without.join(', ')}: no multi-trial search strategy in ${without.length > 1 ? 'these modules' : 'this module'}; a worker loads hardware targets from the run's own plugin list`, EXIT_BAD_INPUT);
  }
  return sets;
}
