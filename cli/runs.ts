/**
 * What `nas list`, `status`, `watch` and `cancel` share: reaching the Temporal that holds the runs
 * (the cluster named by TEMPORAL_ADDRESS, or the embedded dev server on its SQLite file), finding a
 * run's pipeline workflow, and reporting on it from Temporal alone, so the report is the same
 * whichever process started the run.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  ApplicationFailure,
  Client,
  Connection,
  defaultPayloadConverter,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
  type WorkflowHandle,
} from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { clusterFromEnv, type TemporalTarget } from '../infra/temporal-connection';
import { startTemporalDevServer, TemporalCliNotFoundError, type DevServer } from '../infra/temporal-dev-server';
import type { PipelineStatus, PipelineWorkflowInput, PipelineWorkflowResult, PluginProvenance } from '../workflows/pipeline';
import { strategyQueueOf } from '../workflows/task-queues';
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from './errors';
import { formatProgress, readProgress, type ProgressSnapshot } from './progress';
import { printOutcome } from './result-view';
import { unservedMessage } from './strategy-service';
import { hasWorkers } from './pollers';
import type { PermanentFailure } from '../core/failures';

/** The workflow type of a run; stages are child workflows of other types. */
export const PIPELINE_WORKFLOW_TYPE = 'pipelineWorkflow';

/** Queries are answered by a worker; without one the server would hold the call until its own timeout. */
const QUERY_DEADLINE_MS = 5_000;

export function defaultWorkDir(): string {
  return path.resolve(process.env.NAS_HOME ?? '.nas');
}

export interface Runs {
  client: Client;
  connection: Connection;
  /** Where the runs live, for messages. */
  where: string;
  /**
   * Embedded mode only: this process had to start the dev server, so no `nas run` is alive and no
   * worker executes the open runs (the next embedded `nas run` would pick them up).
   */
  serverStartedHere: boolean;
  close(): Promise<void>;
}

export function embeddedDir(workDirOption: string | undefined): string {
  return workDirOption ? path.resolve(workDirOption) : defaultWorkDir();
}

/** The cluster TEMPORAL_ADDRESS names; settings it cannot use (TLS files) are the user's to fix. */
function clusterTarget(): TemporalTarget | undefined {
  try {
    return clusterFromEnv();
  } catch (err) {
    throw new CliError((err as Error).message, EXIT_BAD_INPUT);
  }
}

/** Where the runs live, for messages, without connecting. */
export function runsLocation(workDirOption?: string): string {
  const cluster = clusterTarget();
  if (cluster) return `Temporal at ${cluster.address} (namespace ${cluster.namespace})`;
  return `the embedded Temporal database ${path.join(embeddedDir(workDirOption), 'temporal.db')}`;
}

/**
 * Connects to the runs: the cluster with TEMPORAL_ADDRESS, else the embedded dev server, reused
 * when a `nas run` has it up and otherwise started on its database so past runs stay visible.
 * Undefined in embedded mode when there is no database yet, i.e. no run was ever started there;
 * looking must not create one.
 */
export async function openRuns(workDirOption?: string): Promise<Runs | undefined> {
  const cluster = clusterTarget();
  if (cluster) {
    const connection = await Connection.connect({ address: cluster.address, tls: cluster.tls }).catch((err: Error) => {
      throw new CliError(`cannot reach Temporal at ${cluster.address}: ${err.message}`);
    });
    return {
      client: new Client({ connection, namespace: cluster.namespace }),
      connection,
      where: runsLocation(workDirOption),
      serverStartedHere: false,
      close: () => connection.close(),
    };
  }

  const workDir = embeddedDir(workDirOption);
  if (!existsSync(path.join(workDir, 'temporal.db'))) return undefined;
  let server: DevServer;
  try {
    server = await startTemporalDevServer({ workDir, user: `nas ${process.argv[2] ?? ''}`.trim() });
  } catch (err) {
    if (err instanceof TemporalCliNotFoundError) throw new CliError(err.message);
    throw new CliError(`cannot start the embedded Temporal on ${path.join(workDir, 'temporal.db')}: ${(err as Error).message}`);
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: server.address });
  } catch (err) {
    await server.stop();
    throw new CliError(`cannot reach the embedded Temporal at ${server.address}: ${(err as Error).message}`);
  }
  const client = new Client({ connection, namespace: 'default' });
  return {
    client,
    connection,
    where: runsLocation(workDirOption),
    serverStartedHere: !server.reused,
    close: async () => {
      await connection.close();
      // Leaving stops the server only if no `nas run` (or other command) uses it now.
      await server.stop();
    },
  };
}

export function unknownRun(runId: string, where: string): CliError {
  return new CliError(`no run "${runId}" in ${where} (\`nas list\` shows the runs there)`, EXIT_FAILURE);
}

export interface FoundRun {
  handle: WorkflowHandle;
  description: WorkflowExecutionDescription;
}

/** A run id names its pipeline workflow; anything else is refused with a message saying why. */
export async function findRun(runs: Runs, runId: string): Promise<FoundRun> {
  const handle = runs.client.workflow.getHandle(runId);
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw unknownRun(runId, runs.where);
    throw new CliError(`cannot look up run "${runId}" in ${runs.where}: ${(err as Error).message}`);
  }
  if (description.type !== PIPELINE_WORKFLOW_TYPE) {
    const parent = description.parentExecution?.workflowId;
    throw new CliError(
      parent
        ? `"${runId}" is a stage of run "${parent}", not a run: try \`nas status ${parent}\``
        : `"${runId}" is a ${description.type} workflow, not a pipeline run`,
    );
  }
  return { handle, description };
}

/**
 * Opens the runs, finds RUN in them (or fails naming where it looked), hands both to `use`, and
 * closes the runs whatever happens: the frame of every command that acts on one run.
 */
export async function withRun<T>(workDirOption: string | undefined, runId: string, use: (runs: Runs, found: FoundRun) => Promise<T>): Promise<T> {
  const runs = await openRuns(workDirOption);
  if (!runs) throw unknownRun(runId, runsLocation(workDirOption));
  try {
    return await use(runs, await findRun(runs, runId));
  } finally {
    await runs.close();
  }
}

/** Temporal's status name, as the CLI prints it: running, completed, failed, cancelled, terminated, timed_out. */
export type RunState = Lowercase<WorkflowExecutionInfo['status']['name']>;

export function runState(info: Pick<WorkflowExecutionInfo, 'status'>): RunState {
  return info.status.name.toLowerCase() as RunState;
}

export function stateText(state: RunState): string {
  return state.replace(/_/g, ' ');
}

/** Default run ids are `<pipeline name>-<yyyymmdd>-<hhmmss>-<hex>` (see `nas run`). */
function nameFromRunId(runId: string): string | undefined {
  return /^(.+)-\d{8}-\d{6}-[0-9a-f]{4}$/.exec(runId)?.[1];
}

/** The memo `nas run` sets, else the default run id's prefix; runs started with --run-id and no memo have none. */
export function pipelineNameOf(info: Pick<WorkflowExecutionInfo, 'memo' | 'workflowId'>): string | undefined {
  const fromMemo = info.memo?.pipelineName;
  return typeof fromMemo === 'string' ? fromMemo : nameFromRunId(info.workflowId);
}

export function durationSeconds(info: Pick<WorkflowExecutionInfo, 'startTime' | 'closeTime'>): number {
  return ((info.closeTime ?? new Date()).getTime() - info.startTime.getTime()) / 1000;
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

export function formatTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/**
 * Temporal wraps failures (workflow > child > activity): the error the code threw (the first
 * ApplicationFailure) says what went wrong; its own causes are detail (a full disk's raw ENOSPC
 * under the store's line naming the folder). Without one (a timeout), the innermost failure.
 */
export function rootCause(err: Error): Error {
  let current: Error = err;
  while (!(current instanceof ApplicationFailure) && current.cause instanceof Error) current = current.cause;
  return current;
}

/** What to do about a failure that a retry could not mend, by its type (workflows/policies.ts). */
const WAY_ON: Partial<Record<PermanentFailure, (runId: string) => string>> = {
  ArtifactStoreFullError: (runId) => `free space there, then \`nas resume ${runId}\` continues from the newest checkpoint`,
  ArtifactStoreAccessError: (runId) => `make the folder writable by this user, then \`nas resume ${runId}\` continues from the newest checkpoint`,
  DatasetNotFoundError: (runId) => `put the data set where the pipeline says, then \`nas resume ${runId}\``,
  TrainingDivergedError: () => 'resuming would diverge again: start a new run with the changed settings',
};

/** The one line that says why a run failed, and how to go on where that is known. */
export function failureText(err: Error, runId: string): string {
  const cause = rootCause(err);
  const type = cause instanceof ApplicationFailure ? cause.type : cause.name;
  const hint = type && type in WAY_ON ? WAY_ON[type as PermanentFailure] : undefined;
  return hint ? `${cause.message}; ${hint(runId)}` : cause.message;
}

export interface StageTime {
  stage: string;
  seconds: number;
}

interface HistoryView {
  input?: PipelineWorkflowInput;
  stages: StageTime[];
  /** The stage that was running when the history ends (for a closed run: the one it stopped in). */
  open?: string;
}

/**
 * The run's input and its stages, from its event history: it needs no worker, so it works for
 * closed runs, and for open ones whose worker is gone. Stage seconds span the child workflow's
 * initiation to its completion, as the pipeline's own clock does.
 */
async function readHistory(handle: WorkflowHandle, runId: string): Promise<HistoryView> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const startPayload = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const input = startPayload ? defaultPayloadConverter.fromPayload<PipelineWorkflowInput>(startPayload) : undefined;
  const initiated = new Map<string, { stage: string; ms: number }>();
  const stages: StageTime[] = [];
  const stageOf = (workflowId: string) => (workflowId.startsWith(`${runId}.`) ? workflowId.slice(runId.length + 1) : workflowId);
  for (const e of events) {
    const start = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (start?.workflowId) initiated.set(String(e.eventId), { stage: stageOf(start.workflowId), ms: tsToMs(e.eventTime) });
    const closes = [
      e.childWorkflowExecutionCompletedEventAttributes,
      e.childWorkflowExecutionFailedEventAttributes,
      e.childWorkflowExecutionCanceledEventAttributes,
      e.childWorkflowExecutionTimedOutEventAttributes,
      e.childWorkflowExecutionTerminatedEventAttributes,
      e.startChildWorkflowExecutionFailedEventAttributes,
    ];
    const closed = closes.find((c) => c != null);
    if (!closed?.initiatedEventId) continue;
    const key = String(closed.initiatedEventId);
    const begun = initiated.get(key);
    initiated.delete(key);
    if (begun && e.childWorkflowExecutionCompletedEventAttributes) {
      stages.push({ stage: begun.stage, seconds: (tsToMs(e.eventTime) - begun.ms) / 1000 });
    } else if (begun) {
      // A stage that closed without completing ends the pipeline; name it as where the run stopped.
      initiated.set(key, begun);
    }
  }
  const open = [...initiated.values()].pop()?.stage;
  return { input, stages, open };
}

export interface RunReport {
  runId: string;
  pipelineName?: string;
  status: RunState;
  startTime: string;
  closeTime?: string;
  durationSeconds: number;
  /** Stages completed, in order, with their seconds. */
  stages: StageTime[];
  /** Running runs: the stage now and its progress; closed runs that did not complete: where they stopped. */
  current?: { stage: string; progress?: string; snapshot?: ProgressSnapshot };
  /** Why a run that did not complete ended (the innermost failure's message). */
  failure?: string;
  result?: PipelineWorkflowResult;
  /** Something the reader should know, e.g. that nothing is executing an open run. */
  note?: string;
  /** The plugins the run uses, as they were when it started; absent for runs started before they were recorded. */
  plugins?: PluginProvenance[];
  /** Where the run's artifacts are, as it was started with. */
  artifactLocation?: string;
}

export async function readInput(handle: WorkflowHandle, runId: string): Promise<PipelineWorkflowInput | undefined> {
  return (await readHistory(handle, runId)).input;
}

/** Everything `nas status` says about a run, from Temporal alone. */
export async function reportRun(runs: Runs, { handle, description }: FoundRun): Promise<RunReport> {
  const runId = description.workflowId;
  const state = runState(description);
  const history = await readHistory(handle, runId);
  const report: RunReport = {
    runId,
    pipelineName: pipelineNameOf(description) ?? history.input?.pipelineName,
    status: state,
    startTime: description.startTime.toISOString(),
    closeTime: description.closeTime?.toISOString(),
    durationSeconds: durationSeconds(description),
    stages: history.stages,
    ...(history.input?.plugins ? { plugins: history.input.plugins } : {}),
    ...(history.input ? { artifactLocation: history.input.artifactLocation } : {}),
  };
  const deadline = () => Date.now() + QUERY_DEADLINE_MS;
  const search = history.input?.stages.search;
  const strategySet = search?.mode === 'multi-trial' ? search.strategySet : undefined;

  if (state === 'running') {
    const working = runs.serverStartedHere ? false : await hasWorkers(runs.client, runs.client.options.namespace, description.taskQueue);
    if (working && strategySet && !history.stages.some((s) => s.stage === 'search')) {
      // Strategy-set queues hang off the run's main queue (workflows/task-queues.ts).
      const queue = strategyQueueOf(description.taskQueue, strategySet.id);
      if (!(await hasWorkers(runs.client, runs.client.options.namespace, queue))) report.note = unservedMessage(strategySet, queue);
    }
    if (!working) {
      report.note = runs.serverStartedHere
        ? 'nothing is executing this run: the `nas run` that started it has exited (the next embedded `nas run` picks it up again; `nas cancel --terminate` ends it)'
        : `no worker is polling task queue ${description.taskQueue}: the run waits until one does`;
      if (history.open) report.current = { stage: history.open };
      return report;
    }
    try {
      // The live view: the pipeline's status query, and the stage's progress through cli/progress.
      const status = await runs.connection.withDeadline(deadline(), () => handle.query<PipelineStatus>('status'));
      report.stages = status.completed.map(({ stage, seconds }) => ({ stage, seconds }));
      if (status.current) {
        const snapshot = await runs.connection
          .withDeadline(deadline(), () => readProgress(runs.client.workflow, runId))
          .catch((): ProgressSnapshot => ({ stage: status.current?.stage }));
        report.current = {
          stage: status.current.stage,
          progress: formatProgress(snapshot),
          snapshot,
        };
      }
    } catch {
      // The first workflow task may not have run yet, or the worker is busy; history still tells.
      if (history.open) report.current = { stage: history.open };
    }
    return report;
  }

  if (state === 'completed') {
    const result: PipelineWorkflowResult = await handle.result();
    report.result = result;
    report.stages = result.stages.map(({ stage, seconds }) => ({ stage, seconds }));
    return report;
  }

  try {
    await handle.result();
  } catch (err) {
    report.failure = err instanceof WorkflowFailedError ? failureText(err, report.runId) : (err as Error).message;
  }
  if (history.open) report.current = { stage: history.open };
  return report;
}

export function printReport(report: RunReport): void {
  const name = report.pipelineName ? ` (pipeline "${report.pipelineName}")` : '';
  const closed = report.closeTime ? `, ended ${formatTime(new Date(report.closeTime))}` : '';
  console.log(`run ${report.runId}${name}: ${stateText(report.status)}`);
  console.log(`  started ${formatTime(new Date(report.startTime))}${closed}, ${formatSeconds(report.durationSeconds)}${report.closeTime ? '' : ' so far'}`);
  for (const s of report.stages) console.log(`  stage ${s.stage}: done in ${s.seconds.toFixed(1)} s`);
  if (report.current && report.status === 'running') {
    console.log(`  stage ${report.current.stage}: running${report.current.progress ? `: ${report.current.progress}` : ''}`);
  } else if (report.current) {
    console.log(`  stopped in stage ${report.current.stage}`);
  }
  // A cancellation's message is only "Workflow canceled"; a failure's or termination's says why.
  if (report.failure && report.status !== 'cancelled') console.log(`  ${stateText(report.status)}: ${report.failure}`);
  // A finished run's results read as `nas run` printed them when it finished.
  if (report.result) printOutcome(report.result, report.artifactLocation ?? '(artifact location unknown)');
  for (const p of report.plugins ?? []) {
    console.log(`  plugin ${p.kind} ${p.name} ${p.version}: ${p.source}${p.sha256 ? ` (sha256 ${p.sha256.slice(0, 12)})` : ''}`);
  }
  if (report.note) console.log(`  note: ${report.note}`);
}
