/**
 * Workflow tests with stub activities (Temporal's TestWorkflowEnvironment): a local dev server from
 * the Temporal CLI that setup installed (never the SDK's own download, which would leave the
 * registries), serving the very bundle workers serve (infra/workflow-bundle.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId, WorkflowStartOptions } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type Workflow, type WorkflowResultType } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type LogLevel, type WorkflowBundle } from '@temporalio/worker';
import type * as activities from '../../activities';
import { findTemporalCli } from '../../infra/temporal-dev-server';
import { installRuntime } from '../../infra/worker';
import { workflowBundle } from '../../infra/workflow-bundle';
import { elasticQueueOf, strategyQueueOf, trialQueueOf } from '../../workflows/task-queues';

export async function startWorkflowEnvironment(): Promise<TestWorkflowEnvironment> {
  // The SDK's INFO lines (every worker state change) would bury the test output.
  installRuntime();
  return TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: findTemporalCli() }, ui: false } });
}

/** Runs `body` with a worker on a fresh task queue that serves the project's workflows and `activities`. */
export async function withStubWorker<T>(env: TestWorkflowEnvironment, activities: object, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `stub-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle: await workflowBundle(), activities });
  return worker.runUntil(body(taskQueue));
}

/**
 * One dev server and one set of workers for a whole test file, with stubs swapped per test: a
 * worker costs about a second to start and stop, a stubbed workflow milliseconds. The workers
 * poll every queue a pipeline's work goes to (workflows/task-queues.ts): the main queue (workflows
 * and the activities that run alone), its trials and elastic queues (activities only), and the
 * queues of the strategy sets a file names (workflows only, the built-in bundle). Every stub call
 * is recorded with the queue it arrived on, so a test can say where the workflow sent its work.
 */
type Activities = typeof activities;
export type ActivityName = keyof Activities;
export type ActivityInput<K extends ActivityName> = Parameters<Activities[K]>[0];
export type ActivityResult<K extends ActivityName> = Awaited<ReturnType<Activities[K]>>;
/** Stand-ins for the activities, typed as the real ones, so a fake result has the real shape. */
export type Stubs = { [K in ActivityName]?: (input: ActivityInput<K>) => Promise<ActivityResult<K>> };

/** Every activity a worker registers; the check below fails to compile when activities/index.ts gains one. */
const ACTIVITY_NAMES = [
  'trainClassifier',
  'measureLatency',
  'trainTrial',
  'drawBandCandidates',
  'writeJson',
  'buildLatencyTable',
  'calibrateLatencyModel',
  'supernetEpoch',
  'scalingTrial',
  'scaledArchitectures',
  'elasticCoordinator',
  'elasticParticipant',
  'evaluateModel',
  'summarizeEvaluation',
] as const satisfies readonly ActivityName[];
const everyActivityNamed: [Exclude<ActivityName, (typeof ACTIVITY_NAMES)[number]>] extends [never] ? true : never = true;
void everyActivityNamed;

export interface StubCall<K extends ActivityName = ActivityName> {
  activity: K;
  /** The queue the task came from: where the workflow scheduled it. */
  taskQueue: string;
  /** Which attempt this is, from 1: a retried activity is recorded once per attempt. */
  attempt: number;
  /** The heartbeat timeout the workflow gave it; undefined when none. */
  heartbeatTimeoutMs: number | undefined;
  input: ActivityInput<K>;
}

/** The calls of one test, in the order the activities started. */
export class StubCalls {
  readonly all: StubCall[] = [];

  /** The inputs of one activity's calls, in order. */
  of<K extends ActivityName>(activity: K): ActivityInput<K>[] {
    return this.all.filter((c): c is StubCall<K> => c.activity === activity).map((c) => c.input);
  }

  /** The activities called, in order, with repeats. */
  names(): ActivityName[] {
    return this.all.map((c) => c.activity);
  }

  /** The queues one activity's calls arrived on, deduplicated. */
  queuesOf(activity: ActivityName): string[] {
    return [...new Set(this.all.filter((c) => c.activity === activity).map((c) => c.taskQueue))];
  }
}

export interface StubWorkers {
  readonly env: TestWorkflowEnvironment;
  /** The main queue; its trials, elastic and strategy queues are named by workflows/task-queues.ts. */
  readonly taskQueue: string;
  /** Serves `stubs` from now until the next call (an activity without a stub fails for good); returns the record of calls. */
  serve(stubs: Stubs): StubCalls;
  /** Starts a workflow on the main queue under a fresh id; it is terminated after the test if still open. */
  start<W extends Workflow>(workflow: W, ...args: Parameters<W>): Promise<WorkflowHandleWithFirstExecutionRunId<W>>;
  /** Starts a workflow and waits for its result. */
  execute<W extends Workflow>(workflow: W, ...args: Parameters<W>): Promise<WorkflowResultType<W>>;
  /**
   * The activities one workflow run scheduled, in the order it scheduled them (its history, not its
   * children's): activities scheduled together may start in any order, so this is the order to test.
   */
  scheduled(handle: WorkflowHandle): Promise<{ activity: string; taskQueue: string; input: unknown }[]>;
}

/** Registers the file's server and workers (beforeAll / afterAll) and returns them. */
export function useStubWorkers(options: { strategySetIds?: readonly string[] } = {}): StubWorkers {
  let env: TestWorkflowEnvironment | undefined;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];
  // A worker that stops on its own would leave every later test waiting for its timeout.
  let crashed: Promise<never> = new Promise(() => undefined);
  let current: { stubs: Stubs; calls: StubCalls } = { stubs: {}, calls: new StubCalls() };
  const opened: WorkflowHandle[] = [];
  const taskQueue = `stubs-${randomUUID()}`;

  const dispatch = (activity: ActivityName) => async (input: never) => {
    const { stubs, calls } = current;
    const { taskQueue, attempt, heartbeatTimeoutMs } = Context.current().info;
    calls.all.push({ activity, taskQueue, attempt, heartbeatTimeoutMs, input });
    const stub = stubs[activity] as ((input: never) => Promise<unknown>) | undefined;
    if (!stub) throw ApplicationFailure.nonRetryable(`this test has no stub for activity ${activity}`, 'StubMissing');
    return stub(input);
  };
  const stubActivities = Object.fromEntries(ACTIVITY_NAMES.map((name) => [name, dispatch(name)]));

  beforeAll(async () => {
    // Quiet unless asked: stubs that fail on purpose would fill the output with WARN lines.
    installRuntime({ level: (process.env.NAS_LOG_LEVEL as LogLevel | undefined) ?? 'ERROR' });
    env = await startWorkflowEnvironment();
    // As infra/worker.ts sets it: a heartbeat (and the cancellation it brings back) within a second.
    const common = { connection: env.nativeConnection, namespace: env.namespace ?? 'default', maxHeartbeatThrottleInterval: '1s' as const };
    const bundle = await reusedWorkflowBundle();
    workers = await Promise.all([
      Worker.create({ ...common, taskQueue, workflowBundle: bundle, activities: stubActivities }),
      Worker.create({ ...common, taskQueue: trialQueueOf(taskQueue), activities: stubActivities }),
      Worker.create({ ...common, taskQueue: elasticQueueOf(taskQueue), activities: stubActivities }),
      ...(options.strategySetIds ?? []).map((id) => Worker.create({ ...common, taskQueue: strategyQueueOf(taskQueue, id), workflowBundle: bundle })),
    ]);
    running = workers.map((w) => w.run());
    crashed = Promise.race(running).then(() => {
      throw new Error('a stub worker stopped before the test file ended');
    });
    // Only tests that are waiting on it may see the crash.
    crashed.catch(() => undefined);
  }, 120_000);

  afterEach(async () => {
    // A test that failed half-way leaves its workflow open; the next test's stubs must not serve it.
    await Promise.all(opened.splice(0).map((h) => h.terminate('test ended').catch(() => undefined)));
    current = { stubs: {}, calls: new StubCalls() };
  });

  afterAll(async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await env?.teardown();
  });

  const started = async <W extends Workflow>(workflow: W, args: Parameters<W>) => {
    if (!env) throw new Error('useStubWorkers: the environment is not started (call it at the top of the file)');
    // The options' type is conditional on W's parameters, which TypeScript cannot resolve for a generic W.
    const options = { taskQueue, workflowId: `wf-${randomUUID()}`, args } as unknown as WorkflowStartOptions<W>;
    const handle = await env.client.workflow.start(workflow, options);
    opened.push(handle);
    return handle;
  };
  return {
    get env() {
      if (!env) throw new Error('useStubWorkers: the environment is not started');
      return env;
    },
    taskQueue,
    serve(stubs) {
      current = { stubs, calls: new StubCalls() };
      return current.calls;
    },
    start: (workflow, ...args) => started(workflow, args),
    async execute(workflow, ...args) {
      const handle = await started(workflow, args);
      return Promise.race([handle.result(), crashed]);
    },
    async scheduled(handle) {
      const { events } = await handle.fetchHistory();
      return (events ?? []).flatMap((e) => {
        const a = e.activityTaskScheduledEventAttributes;
        const payload = a?.input?.payloads?.[0];
        return a ? [{ activity: a.activityType?.name ?? '', taskQueue: a.taskQueue?.name ?? '', input: payload ? defaultPayloadConverter.fromPayload(payload) : undefined }] : [];
      });
    },
  };
}

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * The files a bundle was built from, with their hashes (webpack names each module it holds);
 * undefined where one is missing, or was changed after `builtAt` (the bundle may hold either).
 */
function bundleSources(code: string, builtAt = Number.POSITIVE_INFINITY): Record<string, string> | undefined {
  const ids = [...code.matchAll(/^\/\*\*\*\/ "(\.[^"]+)"$/gm)].map((m) => m[1]);
  // The generated entry lives in a folder of its own per process; what it says is fixed by the code below.
  const sources = ids.filter((id) => !id.includes('nas-workflow-entries'));
  // The bundler's own code and configuration decide the bytes too.
  sources.push('./infra/workflow-bundle.ts', './node_modules/@temporalio/worker/package.json');
  const hashes: Record<string, string> = {};
  try {
    for (const id of sources) {
      if (statSync(path.resolve(id)).mtimeMs >= builtAt) return undefined;
      hashes[id] = sha256(readFileSync(path.resolve(id)));
    }
  } catch {
    return undefined;
  }
  return sources.some((id) => id.startsWith('./workflows/')) ? hashes : undefined;
}

/**
 * The built-in workflow bundle, kept on disk between the test files of one jest run (os.tmpdir()
 * is that run's own folder: test/support/temp-root-setup.js): jest gives each file its own module
 * registry, so infra/workflow-bundle.ts would build it again for every file (webpack, 5 s), while a
 * stubbed workflow takes milliseconds. It is reused only while every module it holds hashes as it
 * did when it was built, so an edit made during the run rebuilds it.
 */
async function reusedWorkflowBundle(): Promise<WorkflowBundle> {
  const file = path.join(tmpdir(), 'nas-workflow-test-bundles', `${sha256(process.cwd()).slice(0, 16)}.json`);
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as { code: string; sources: Record<string, string> };
    const now = bundleSources(cached.code);
    if (now && JSON.stringify(now) === JSON.stringify(cached.sources)) return { code: cached.code };
  } catch {
    // No bundle kept yet, or an unreadable one: build it.
  }
  const started = Date.now();
  const bundle = await workflowBundle();
  const sources = bundleSources(bundle.code, started);
  if (sources) {
    mkdirSync(path.dirname(file), { recursive: true });
    // Renamed into place, so a file running at the same time never reads half of it.
    const partial = `${file}.${process.pid}`;
    writeFileSync(partial, JSON.stringify({ code: bundle.code, sources }));
    renameSync(partial, file);
  }
  return bundle;
}
