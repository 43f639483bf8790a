/**
 * `nas run FILE`: validate, then run the pipeline. Without TEMPORAL_ADDRESS it starts the embedded
 * Temporal dev server and an in-process worker; with it, it submits to the cluster and waits while
 * `nas worker` processes elsewhere do the work.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CancelledFailure, Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { openArtifactStore, putJson } from '../../artifacts';
import { resolvePipelineFile, PipelineValidationError, type LoadedPipeline } from '../../dsl/load';
import type { Pipeline } from '../../dsl/pipeline';
import { startTemporalDevServer, type DevServer } from '../../infra/temporal-dev-server';
import { clusterFromEnv, taskQueueFromEnv, type TemporalTarget } from '../../infra/temporal-connection';
import { createNasWorker, installRuntime } from '../../infra/worker';
import { startLocalWorkers, type LocalWorkers } from '../../infra/local-workers';
import { pipelineWorkflow, type PipelineWorkflowInput } from '../../workflows/pipeline';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import { unrunnable, workflowInput } from '../plan';
import { followProgress } from '../progress';
import { printResult } from '../result-view';
import { strategySetOfRun, watchStrategyService } from '../strategy-service';
import { workflowBundle, type StrategySet } from '../../infra/workflow-bundle';
import { PluginLoadError } from '../../plugins/load';

const HELP = `usage: nas run <pipeline file> [options]

  --work-dir DIR   where the embedded Temporal keeps its database and logs (default .nas, or NAS_HOME)
  --run-id ID      the run's id (default <pipeline name>-<time>-<random>)
  --workers N      embedded only: N worker processes on this machine, this one included (default
                   1). Each is one elastic-training participant and runs one trial at a time.
                   The others' logs go to <work-dir>/workers/<run id>/
  --detach         with TEMPORAL_ADDRESS: submit and return without waiting

Without TEMPORAL_ADDRESS the embedded dev server and an in-process worker run the pipeline.
With it (and TEMPORAL_NAMESPACE, TEMPORAL_TLS_* as needed), the run is submitted to that cluster.`;

export function defaultWorkDir(): string {
  return path.resolve(process.env.NAS_HOME ?? '.nas');
}

function newRunId(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${name}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Local artifact folders become absolute, so workers started elsewhere agree on the place. */
function resolveLocation(location: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(location)) return location;
  return path.resolve(baseDir, location);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'work-dir': { type: 'string' },
      'run-id': { type: 'string' },
      workers: { type: 'string' },
      detach: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`expected one pipeline file\n\n${HELP}`, EXIT_BAD_INPUT);
  const file = positionals[0];

  let loaded: LoadedPipeline;
  try {
    loaded = resolvePipelineFile(file);
  } catch (err) {
    if (err instanceof PipelineValidationError) {
      console.error(err.message);
      console.error(`nas run: ${file} is invalid (${err.problems.length} problem${err.problems.length > 1 ? 's' : ''}); nothing was started`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
  const pipeline: Pipeline = loaded.pipeline;
  const problems = unrunnable(loaded);
  if (problems.length > 0) {
    for (const p of problems) console.error(`${file}: ${p}`);
    console.error('nas run: nothing was started');
    return EXIT_BAD_INPUT;
  }

  // Everything that can refuse the run does so before the first artifact is written.
  const cluster = clusterFromEnv();
  if (values.detach && !cluster) throw new CliError('--detach needs TEMPORAL_ADDRESS: an embedded run lives only as long as this process', EXIT_BAD_INPUT);
  const workers = parseWorkers(values.workers, cluster !== undefined);

  const runId = values['run-id'] ?? newRunId(pipeline.name);
  const artifactLocation = resolveLocation(pipeline.artifacts.location, process.cwd());
  const input = workflowInput(loaded, runId, artifactLocation);
  // A user strategy becomes workflow code: a module that cannot be (it imports Node APIs, say) is
  // refused now, not by a worker after the run has started. The build is kept for this process's worker.
  const set = strategySetOfRun(input);
  if (set) {
    try {
      await workflowBundle([set]);
    } catch (err) {
      if (err instanceof PluginLoadError) {
        console.error(`${file}: stages.baselineSearch.strategy: ${err.message}`);
        console.error('nas run: nothing was started');
        return EXIT_BAD_INPUT;
      }
      throw err;
    }
  }
  const store = openArtifactStore(artifactLocation);
  // Writing the resolved pipeline first proves the store works before anything starts; a run that
  // has one already is that run's, never to be overwritten by another pipeline under its id.
  let exists = false;
  try {
    exists = (await store.head(`runs/${runId}/pipeline.json`)) !== undefined;
    if (!exists) {
      await putJson(store, `runs/${runId}/pipeline.json`, pipeline);
      await putJson(store, `runs/${runId}/plugins.json`, input.plugins ?? []);
    }
  } catch (err) {
    throw new CliError(`the artifact store ${artifactLocation} is not writable: ${(err as Error).message}`);
  }
  if (exists) throw runExists(runId, `${artifactLocation}/runs/${runId}`);

  const started = Date.now();
  console.log(`run ${runId}: pipeline "${pipeline.name}" from ${file}`);
  console.log(`artifacts: ${artifactLocation}/runs/${runId}`);

  if (cluster) return submitToCluster(cluster, input, values.detach ?? false, artifactLocation, started);
  return runEmbedded({ workDir: values['work-dir'] ? path.resolve(values['work-dir']) : defaultWorkDir(), input, artifactLocation, started, workers });
}

/** `--workers N`: a whole number from 1 up; only the embedded server's runs start processes. */
export function parseWorkers(value: string | undefined, toCluster: boolean): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CliError(`--workers ${value}: expected a whole number from 1 to 64`, EXIT_BAD_INPUT);
  if (toCluster && n > 1) {
    throw new CliError('--workers starts processes beside the embedded server; with TEMPORAL_ADDRESS, start `nas worker` processes for the cluster instead', EXIT_BAD_INPUT);
  }
  return n;
}

/** Temporal wraps failures (workflow > child > activity); the innermost one says what went wrong. */
function rootCause(err: Error): Error {
  let current: Error = err;
  while (current.cause instanceof Error) current = current.cause;
  return current;
}

/** A new run under an id that is taken: the one line that says how to go on instead of a stack. */
function runExists(runId: string, where: string): CliError {
  return new CliError(`run ${runId} exists already (${where}): \`nas resume ${runId}\` continues it; a new run needs another --run-id, or none for a fresh one`, EXIT_BAD_INPUT);
}

/** How to reach the run: start its pipeline workflow, or attach to the one already running (`nas resume`). */
export type RunStart = 'start' | 'attach';

/** Exit codes of a process ended by SIGINT / SIGTERM, as shells report them. */
const EXIT_ON_SIGNAL: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Why `nas run` stopped following its run: the run itself is left open. */
function interrupted(signal: NodeJS.Signals, runId: string): CliError {
  return new CliError(
    `interrupted by ${signal}: this process stopped; run ${runId} stays open, and \`nas resume ${runId}\` continues it from its finished stages and checkpoints`,
    EXIT_ON_SIGNAL[signal] ?? 1,
  );
}

async function execute(
  client: Client,
  taskQueue: string,
  input: PipelineWorkflowInput,
  artifactLocation: string,
  started: number,
  how: RunStart = 'start',
  interrupt?: AbortSignal,
  /** This process's own worker serves the run's strategy set (embedded mode). */
  servesStrategies = false,
): Promise<number> {
  const handle =
    how === 'attach'
      ? client.workflow.getHandle<typeof pipelineWorkflow>(input.runId)
      : await client.workflow.start(pipelineWorkflow, { workflowId: input.runId, taskQueue, args: [input], memo: { pipelineName: input.pipelineName } }).catch((err: unknown) => {
          // Its artifacts live elsewhere (another location), but Temporal has the run.
          throw err instanceof WorkflowExecutionAlreadyStartedError ? runExists(input.runId, 'Temporal') : err;
        });
  const stopProgress = followProgress(client.workflow, input.runId);
  // An embedded run serves its own strategy; a cluster's workers may not.
  const set = strategySetOfRun(input);
  const stopWatch = set && !servesStrategies ? watchStrategyService(client, client.options.namespace, taskQueue, set, (line) => console.error(`note: ${line}`)) : () => undefined;
  try {
    const result = await (interrupt ? client.withAbortSignal(interrupt, () => handle.result()) : handle.result());
    stopWatch();
    await stopProgress();
    printResult(result, artifactLocation, started);
    return 0;
  } catch (err) {
    stopWatch();
    await stopProgress();
    if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
      throw new CliError(`run ${input.runId} was cancelled; \`nas resume ${input.runId}\` continues it from its finished stages and checkpoints`);
    }
    if (err instanceof WorkflowFailedError) {
      throw new CliError(`run ${input.runId} failed: ${rootCause(err).message}`);
    }
    throw err;
  }
}

export async function submitToCluster(
  cluster: TemporalTarget,
  input: PipelineWorkflowInput,
  detach: boolean,
  artifactLocation: string,
  started: number,
  how: RunStart = 'start',
): Promise<number> {
  const connection = await Connection.connect({ address: cluster.address, tls: cluster.tls }).catch((err: Error) => {
    throw new CliError(`cannot reach Temporal at ${cluster.address}: ${err.message}`);
  });
  try {
    const client = new Client({ connection, namespace: cluster.namespace });
    if (detach) {
      await client.workflow.start(pipelineWorkflow, { workflowId: input.runId, taskQueue: cluster.taskQueue, args: [input], memo: { pipelineName: input.pipelineName } });
      console.log(`submitted ${input.runId} to ${cluster.address} (namespace ${cluster.namespace}, task queue ${cluster.taskQueue})`);
      return 0;
    }
    console.log(`submitted to ${cluster.address}; waiting for \`nas worker\` processes on task queue ${cluster.taskQueue}`);
    return await execute(client, cluster.taskQueue, input, artifactLocation, started, how);
  } finally {
    await connection.close();
  }
}

export interface EmbeddedRun {
  workDir: string;
  input: PipelineWorkflowInput;
  artifactLocation: string;
  started: number;
  how?: RunStart;
  /** Worker processes in all, this one included. */
  workers?: number;
}

export async function runEmbedded({ workDir, input, artifactLocation, started, how = 'start', workers = 1 }: EmbeddedRun): Promise<number> {
  const strategySets = embeddedStrategySets(input);
  let server: DevServer | undefined;
  let extra: LocalWorkers | undefined;
  try {
    server = await startTemporalDevServer({ workDir, ownProcessGroup: true });
    console.log(
      `temporal: ${server.reused ? 'reusing' : 'started'} dev server at ${server.address} (database ${path.join(workDir, 'temporal.db')})` +
        (server.uiAddress ? `\ntemporal web UI: ${server.uiAddress}/namespaces/default/workflows/${input.runId}` : ''),
    );
    const taskQueue = taskQueueFromEnv();
    installRuntime();
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const worker = await createNasWorker({ connection: nativeConnection, namespace: 'default', taskQueue, strategySets });
      if (workers > 1) {
        const logDir = path.join(workDir, 'workers', input.runId);
        extra = startLocalWorkers({
          count: workers - 1,
          address: server.address,
          namespace: 'default',
          taskQueue,
          logDir,
          onExit: (w, code, signal) =>
            console.error(`worker process ${w.index} (pid ${w.pid}) ended ${signal ? `on ${signal}` : `with exit code ${code}`}; the run goes on without it (log: ${w.log})`),
        });
        console.log(`workers: this process and ${workers - 1} more (pid ${extra.workers.map((w) => w.pid).join(', ')}; logs in ${logDir})`);
      }
      // The Temporal runtime stops the workers on SIGINT / SIGTERM; this stops following the run.
      const interrupt = new AbortController();
      // The client adds one listener per call made under the signal and never removes it: waiting
      // for the result long-polls, a call every 20 s or so, which passes Node's warning limit of 10
      // within minutes (about 180 small closures an hour).
      setMaxListeners(0, interrupt.signal);
      const onSignal = (signal: NodeJS.Signals): void => interrupt.abort(signal);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        return await worker.runUntil(execute(client, taskQueue, input, artifactLocation, started, how, interrupt.signal, true));
      } catch (err) {
        if (interrupt.signal.aborted) throw interrupted(interrupt.signal.reason as NodeJS.Signals, input.runId);
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    } finally {
      await extra?.stop();
      await connection.close();
      await nativeConnection.close();
    }
  } finally {
    await server?.stop();
  }
}

/** The strategy set this process serves for the run (`nas resume` has refused one whose file changed). */
function embeddedStrategySets(input: PipelineWorkflowInput): StrategySet[] {
  const set = strategySetOfRun(input);
  return set ? [set] : [];
}
