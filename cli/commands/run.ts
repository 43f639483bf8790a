/**
 * `nas run FILE`: validate, then run the pipeline. Without TEMPORAL_ADDRESS it starts the embedded
 * Temporal dev server and an in-process worker; with it, it submits to the cluster and waits while
 * `nas worker` processes elsewhere do the work.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CancelledFailure, Client, Connection, ServiceError, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type WorkflowExecutionInfo } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { openArtifactStore, putJson } from '../../artifacts';
import { resolvePipelineFile, PipelineValidationError, type LoadedPipeline } from '../../dsl/load';
import type { Pipeline } from '../../dsl/pipeline';
import { alive } from '../../infra/process-identity';
import { runningDevServer, startTemporalDevServer, type DevServer } from '../../infra/temporal-dev-server';
import { clusterFromEnv, taskQueueFromEnv, type TemporalTarget } from '../../infra/temporal-connection';
import { createNasWorker, installRuntime } from '../../infra/worker';
import { startLocalWorkers, type LocalWorkers } from '../../infra/local-workers';
import { pipelineWorkflow, type PipelineWorkflowInput } from '../../workflows/pipeline';
import { validateRunId } from '../args';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import { unrunnable, workflowInput } from '../plan';
import { followProgress } from '../progress';
import { printResult } from '../result-view';
import { embeddedDir, failureText, formatTime, pipelineNameOf, rootCause } from '../runs';
import { strategySetOfRun, watchStrategyService } from '../strategy-service';
import { workflowBundle, type StrategySet } from '../../infra/workflow-bundle';
import { PluginLoadError } from '../../plugins/load';

const HELP = `usage: nas run <pipeline file> [options]

  --work-dir DIR   where the embedded Temporal keeps its database and logs, and the run its
                   artifacts unless the pipeline names a location (default .nas, or NAS_HOME)
  --run-id ID      the run's id (default <pipeline name>-<time>-<random>)
  --workers N      embedded only: N worker processes on this machine, this one included (default
                   1). Each is one elastic-training participant and runs one trial at a time.
                   The others' logs go to <work-dir>/workers/<run id>/
  --detach         with TEMPORAL_ADDRESS: submit and return without waiting
  --new            embedded only: start a new run even though a run of this pipeline is unfinished
                   (without it, nas run refuses and names the run to \`nas resume\`)
  --verbose        embedded only: show the Temporal SDK's messages here, not only in
                   <work-dir>/logs/<run id>.log

Without TEMPORAL_ADDRESS the embedded dev server and an in-process worker run the pipeline.
With it (and TEMPORAL_NAMESPACE, TEMPORAL_TLS_* as needed), the run is submitted to that cluster.`;

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
      new: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
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

  const runId = values['run-id'] !== undefined ? validateRunId(values['run-id']) : newRunId(pipeline.name);
  const workDir = embeddedDir(values['work-dir']);
  // What a run makes lives in its work folder unless the pipeline names another place.
  const artifactLocation = pipeline.artifacts.location ? resolveLocation(pipeline.artifacts.location, process.cwd()) : path.join(workDir, 'artifacts');
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
  // Nothing is written until every check has passed; in embedded mode one of them needs the server.
  const claim = async (client?: Client): Promise<void> => {
    if (client && !values['run-id'] && !values.new) await refuseBesideUnfinished(client, workDir, pipeline.name, file);
    await claimRunId(artifactLocation, input, pipeline);
    console.log(`run ${runId}: pipeline "${pipeline.name}" from ${file}`);
    console.log(`artifacts: ${artifactLocation}/runs/${runId}`);
  };
  const started = Date.now();
  if (cluster) {
    await claim();
    return submitToCluster(cluster, input, values.detach ?? false, artifactLocation, started);
  }
  return runEmbedded({ workDir, input, artifactLocation, started, workers, verbose: values.verbose, beforeStart: claim });
}

/**
 * Writes the run's resolved pipeline and plugin list, which proves the store works before anything
 * starts; a run that has them already is that run's, never to be overwritten under its id.
 */
async function claimRunId(artifactLocation: string, input: PipelineWorkflowInput, pipeline: Pipeline): Promise<void> {
  const store = openArtifactStore(artifactLocation);
  const { runId } = input;
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
}

/**
 * A plain `nas run FILE` after a crash would start the pipeline again from scratch beside the
 * unfinished run, and this process's worker would spend itself on that run's work too. So an open
 * run of the same pipeline stops it, with the one line that says how to go on.
 */
async function refuseBesideUnfinished(client: Client, workDir: string, pipelineName: string, file: string): Promise<void> {
  const open: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query: `WorkflowType = 'pipelineWorkflow' AND ExecutionStatus = 'Running'` })) {
    if (pipelineNameOf(info) === pipelineName) open.push(info);
  }
  if (open.length === 0) return;
  const executing = new Set((runningDevServer(workDir)?.users ?? []).filter((u) => u.pid !== process.pid).map((u) => /executing run (\S+)$/.exec(u.what)?.[1]));
  const [latest] = open.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  const others = open.length > 1 ? ` (and ${open.length - 1} more: \`nas list\`)` : '';
  const where = executing.has(latest.workflowId) ? 'another nas process is executing it now' : `nothing executes it since the nas run that started it stopped; \`nas resume ${latest.workflowId}\` continues it`;
  throw new CliError(
    `run ${latest.workflowId} of pipeline "${pipelineName}" has not finished (started ${formatTime(latest.startTime)})${others}: ${where}. ` +
      `\`nas run ${file} --new\` starts another run anyway; nothing was started`,
  );
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

/** A new run under an id that is taken: the one line that says how to go on instead of a stack. */
function runExists(runId: string, where: string): CliError {
  return new CliError(`run ${runId} exists already (${where}): \`nas resume ${runId}\` continues it; a new run needs another --run-id, or none for a fresh one`, EXIT_BAD_INPUT);
}

/** How to reach the run: start its pipeline workflow, or attach to the one already running (`nas resume`). */
export type RunStart = 'start' | 'attach';

/** Exit codes of a process ended by SIGINT / SIGTERM, as shells report them. */
const EXIT_ON_SIGNAL: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Why `nas run` stopped following its run: the run itself is left open. */
function interrupted(signal: NodeJS.Signals, runId: string, how = 'this process stopped'): CliError {
  return new CliError(
    `interrupted by ${signal}: ${how}; run ${runId} stays open, and \`nas resume ${runId}\` continues it from its finished stages and checkpoints`,
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
      throw new CliError(`run ${input.runId} failed: ${failureText(err, input.runId)}`);
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
    return await execute(client, cluster.taskQueue, input, artifactLocation, started, how).catch((err: unknown) => {
      if (err instanceof ServiceError) {
        throw new CliError(`lost Temporal at ${cluster.address} while following run ${input.runId} (${rootCause(err).message}); the run goes on there: \`nas watch ${input.runId}\` follows it again`);
      }
      throw err;
    });
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
  /** The SDK's log lines on stderr too, not only in the run's log file. */
  verbose?: boolean;
  /** Checks that need the server and the run's first writes, once it is up and before the run starts. */
  beforeStart?: (client: Client) => Promise<void>;
}

export async function runEmbedded({ workDir, input, artifactLocation, started, how = 'start', workers = 1, verbose = false, beforeStart }: EmbeddedRun): Promise<number> {
  const strategySets = embeddedStrategySets(input);
  let server: DevServer | undefined;
  let extra: LocalWorkers | undefined;
  try {
    server = await startTemporalDevServer({ workDir, ownProcessGroup: true, user: `the nas process executing run ${input.runId}` });
    const taskQueue = taskQueueFromEnv();
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: 'default' });
    let nativeConnection: NativeConnection | undefined;
    try {
      await beforeStart?.(client);
      console.log(
        `temporal: ${server.reused ? 'reusing' : 'started'} dev server at ${server.address} (database ${path.join(workDir, 'temporal.db')})` +
          (server.uiAddress ? `\ntemporal web UI: ${server.uiAddress}/namespaces/default/workflows/${input.runId}` : ''),
      );
      const logFile = path.join(workDir, 'logs', `${input.runId}.log`);
      installRuntime({ file: logFile, echo: verbose });
      console.log(`log: ${logFile}${verbose ? '' : ' (Temporal SDK messages; --verbose shows them here too)'}`);
      nativeConnection = await NativeConnection.connect({ address: server.address });
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
      const onSignal = (signal: NodeJS.Signals): void => {
        if (!interrupt.signal.aborted) {
          // The workers take a few seconds to stop (the running stage writes its checkpoint): say so at once.
          console.error(`\n${signal}: stopping; the running stage writes a checkpoint first (a few seconds). ${signal === 'SIGINT' ? 'Ctrl-C' : signal} again quits at once`);
          interrupt.abort(signal);
          return;
        }
        // A second signal: the user will not wait. What is lost is the work since the last checkpoint, no more.
        console.error(`nas run: ${interrupted(signal, input.runId, 'quit without waiting for a checkpoint').message}`);
        void Promise.allSettled([extra?.stop(0), server?.stop()]).then(() => process.exit(EXIT_ON_SIGNAL[signal] ?? 1));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // A dead server would otherwise surface only once the client's retries give up, a minute later.
      const serverLost = new AbortController();
      const serverPid = server.pid;
      const serverWatch = setInterval(() => {
        if (alive(serverPid) || serverLost.signal.aborted) return;
        // Said at once: the workers' stop then waits out their last calls to the dead server (up to a minute).
        console.error(`\nthe embedded Temporal server (pid ${serverPid}) has stopped; stopping the workers`);
        serverLost.abort();
      }, 1000);
      const lost = (): CliError =>
        new CliError(
          `the embedded Temporal server at ${server!.address} stopped (its log: ${server!.logFile}). ` +
            `Run ${input.runId} stays as its last checkpoint left it: \`nas resume ${input.runId}\` starts the server again and continues it`,
        );
      try {
        const code = await worker.runUntil(execute(client, taskQueue, input, artifactLocation, started, how, AbortSignal.any([interrupt.signal, serverLost.signal]), true));
        if (server.uiAddress) console.log(`the web UI closes with this process; \`nas ui ${input.runId}\` opens it again`);
        return code;
      } catch (err) {
        if (interrupt.signal.aborted) throw interrupted(interrupt.signal.reason as NodeJS.Signals, input.runId);
        if (serverLost.signal.aborted || err instanceof ServiceError) throw lost();
        throw err;
      } finally {
        clearInterval(serverWatch);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    } finally {
      await extra?.stop();
      await connection.close();
      await nativeConnection?.close();
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
