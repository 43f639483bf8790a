/**
 * The multi-trial search workflow with strategies from plugin modules, on a real dev server and
 * real workers serving the bundles a `nas worker` builds (infra/workflow-bundle.ts), with stub trial
 * activities so each branch takes seconds: budgets reach the trials, a user strategy runs on its
 * own queue and crosses continue-as-new with the same result, a strategy's bug fails the search
 * with its name, a module that cannot be workflow code is refused naming it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import type { TrainTrialInput, TrialMetrics } from '../../activities/train-trial';
import { workflowInput } from '../../cli/plan';
import { resolvePipelineFile } from '../../dsl/load';
import { startTemporalDevServer, type DevServer } from '../../infra/temporal-dev-server';
import { changedPlugins } from '../../cli/provenance';
import { strategySetOf, workflowBundle, type StrategySet } from '../../infra/workflow-bundle';
import { multiTrialSearchWorkflow, type MultiTrialSearchInput, type MultiTrialSearchResult } from '../../workflows/multi-trial-search';
import { strategyQueueOf, trialQueueOf } from '../../workflows/task-queues';

jest.setTimeout(180_000);

const root = mkdtempSync(join(tmpdir(), 'nas-strategy-wf-'));
const plugins = join(__dirname, '..', 'fixtures', 'plugins');
const hillClimb = strategySetOf([join(plugins, 'hill-climb', 'index.ts')])!;
const throwing = strategySetOf([join(plugins, 'throwing-strategy.ts')])!;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const QUEUE = 'strategy-wf';
const BUILTIN_QUEUE = 'strategy-wf-builtins';

/** A stand-in for training: the score follows the choices and grows with the budget, as training would. */
const trained: TrainTrialInput[] = [];
async function trainTrial(input: TrainTrialInput): Promise<TrialMetrics> {
  trained.push(input);
  const quality = input.choices.reduce((s, c, i) => s + c * (i + 1), 0);
  return {
    trial: input.trial,
    choices: input.choices,
    archKey: `trial-${input.trial}`,
    blocks: [],
    validationAccuracy: quality / 100 + input.epochs / 1000,
    params: 1,
    macs: 1,
    trainSeconds: 1 + input.epochs,
    fitSeconds: input.epochs,
  };
}
const written: { key: string; value: unknown }[] = [];
async function writeJson(input: { key: string; value: unknown }): Promise<string> {
  written.push(input);
  return input.key;
}

const space: MultiTrialSearchInput['space'] = {
  stem: { channels: 8, stride: 2, kernel: 3 },
  stages: [
    { channels: 8, repeats: 1, stride: 1, kernels: [3], expansions: [1], se: [true], skip: false },
    { channels: 16, repeats: 2, stride: 2, kernels: [3, 5], expansions: [2, 4], se: [true], skip: true },
  ],
  head: { channels: 32, dropout: 0 },
} as MultiTrialSearchInput['space'];

function searchInput(runId: string, plugin: string, config: Record<string, unknown>, extra: Partial<MultiTrialSearchInput> = {}): MultiTrialSearchInput {
  return {
    runId,
    artifactLocation: join(root, 'artifacts'),
    seed: 11,
    dataset: { name: 'fashion-mnist', resolution: 28, validationFraction: 0.1 } as MultiTrialSearchInput['dataset'],
    space,
    strategy: { plugin, config },
    epochs: 9,
    batchSize: 32,
    learningRate: 0.05,
    parallelTrials: 2,
    pluginFiles: [],
    ...extra,
  };
}

let server: DevServer;
let connection: Connection;
let client: Client;
let workers: Worker[];
let running: Promise<void>;

beforeAll(async () => {
  server = await startTemporalDevServer({ workDir: join(root, 'work'), ui: false });
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection });
  const native = await NativeConnection.connect({ address: server.address });
  // What `nas worker --plugins hill-climb --plugins throwing-strategy` serves: one bundle, a queue per module.
  const sets: StrategySet[] = [hillClimb, throwing];
  const code = await workflowBundle(sets);
  workers = [
    await Worker.create({ connection: native, taskQueue: QUEUE, workflowBundle: code, activities: { writeJson } }),
    ...(await Promise.all(sets.map((s) => Worker.create({ connection: native, taskQueue: strategyQueueOf(QUEUE, s.id), workflowBundle: code })))),
    await Worker.create({ connection: native, taskQueue: trialQueueOf(QUEUE), activities: { trainTrial }, maxConcurrentActivityTaskExecutions: 2 }),
    // What a plain `nas worker` serves: the built-ins only.
    await Worker.create({ connection: native, taskQueue: BUILTIN_QUEUE, workflowBundle: await workflowBundle() }),
  ];
  running = Promise.all(workers.map((w) => w.run())).then(() => undefined);
});

afterAll(async () => {
  for (const w of workers ?? []) w.shutdown();
  await running;
  await connection?.close();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('successive halving hands each rung its budget and reports the training it saved', async () => {
  trained.length = 0;
  const result: MultiTrialSearchResult = await client.workflow.execute(multiTrialSearchWorkflow, {
    workflowId: 'halving-1.search',
    taskQueue: QUEUE,
    args: [searchInput('halving-1', 'successive-halving', { candidates: 9, eta: 3, minEpochs: 1 })],
  });
  const epochsOf = (trial: number) => trained.find((t) => t.trial === trial)!.epochs;
  expect([...trained].sort((a, b) => a.trial - b.trial).map((t) => t.epochs)).toEqual([...Array(9).fill(1), 3, 3, 3, 9]);
  expect(epochsOf(result.best.trial)).toBe(9);
  expect(result.best.epochs).toBe(9);
  expect(result.budgets).toMatchObject({ candidates: 9, fullEpochs: 9, rungs: [{ epochs: 1, trials: 9 }, { epochs: 3, trials: 3 }, { epochs: 9, trials: 1 }] });
  // The stub's seconds: 9 x 2 + 3 x 4 + 10 = 40 spent; 9 candidates at 9 epochs: 9 x (1 + 9) = 90.
  expect(result.budgets!.trainSeconds).toBe(40);
  expect(result.budgets!.fullBudgetSeconds).toBe(90);
  expect(written.find((w) => w.key === 'runs/halving-1/search/summary.json')?.value).toMatchObject({ budgets: result.budgets });
});

test('a user strategy runs on its own queue and reaches the same result across continue-as-new', async () => {
  const input = (runId: string, extra: Partial<MultiTrialSearchInput> = {}) =>
    searchInput(runId, 'hill-climb', { trials: 6 }, { epochs: 1, activityQueue: QUEUE, ...extra });
  const strategyQueue = strategyQueueOf(QUEUE, hillClimb.id);
  const chainOf = async (workflowId: string, firstRunId: string) => {
    const chain: string[] = [];
    for (let runId: string | undefined = firstRunId; runId; ) {
      const history: { events?: HistoryEvent[] | null } = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const last: HistoryEvent | undefined = history.events?.[history.events.length - 1];
      chain.push(last?.workflowExecutionContinuedAsNewEventAttributes ? 'continued as new' : last?.workflowExecutionCompletedEventAttributes ? 'completed' : 'other');
      runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return chain;
  };
  // One trial at a time: a hand-over drains nothing, so the chained search is the whole one.
  const whole = await client.workflow.execute(multiTrialSearchWorkflow, { workflowId: 'hill-1.search', taskQueue: strategyQueue, args: [input('hill-1', { parallelTrials: 1 })] });
  const handle = await client.workflow.start(multiTrialSearchWorkflow, { workflowId: 'hill-2.search', taskQueue: strategyQueue, args: [input('hill-2', { parallelTrials: 1, trialsPerRun: 2 })] });
  const chained = await handle.result();
  expect(chained.trials).toBe(6);
  expect({ ...chained.best, archKey: '' }).toEqual({ ...whole.best, archKey: '' });
  // Two trials a run; the fourth run only learns that the strategy is done.
  expect(await chainOf('hill-2.search', handle.firstExecutionRunId)).toEqual(['continued as new', 'continued as new', 'continued as new', 'completed']);
  // Two at a time: each run hands the trials it has in flight to the next, which observes them where
  // one run would have, so the chain reaches the unbroken search's best.
  const wholeParallel = await client.workflow.execute(multiTrialSearchWorkflow, { workflowId: 'hill-5.search', taskQueue: strategyQueue, args: [input('hill-5')] });
  const parallel = await client.workflow.start(multiTrialSearchWorkflow, { workflowId: 'hill-4.search', taskQueue: strategyQueue, args: [input('hill-4', { trialsPerRun: 2 })] });
  const chainedParallel = await parallel.result();
  expect(chainedParallel.trials).toBe(6);
  expect({ ...chainedParallel.best, archKey: '' }).toEqual({ ...wholeParallel.best, archKey: '' });
  expect(await chainOf('hill-4.search', parallel.firstExecutionRunId)).toEqual(['continued as new', 'continued as new', 'completed']);
  // The built-ins' bundle has no hill-climb: there the search fails at once, naming what it has.
  const err = await client.workflow
    .execute(multiTrialSearchWorkflow, { workflowId: 'hill-3.search', taskQueue: BUILTIN_QUEUE, args: [input('hill-3')] })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(String((err as WorkflowFailedError).cause?.message)).toContain('strategy "hill-climb" is not in this worker\'s workflow code');
});

test("a strategy's own error fails the search with its name and message instead of retrying forever", async () => {
  const err = await client.workflow
    .execute(multiTrialSearchWorkflow, {
      workflowId: 'throws-1.search',
      taskQueue: strategyQueueOf(QUEUE, throwing.id),
      args: [searchInput('throws-1', 'throws-on-third', {}, { epochs: 1, activityQueue: QUEUE, parallelTrials: 1 })],
    })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause?.message).toBe('strategy "throws-on-third" 0.0.1 failed in propose: index out of range in my strategy');
});

test('a strategy from an installed npm package named under plugins: runs from its own queue', async () => {
  // A package as npm installs one: plain JavaScript in node_modules, importing the API by package name.
  const project = mkdtempSync(join(root, 'project-'));
  const pkg = join(project, 'node_modules', 'first-choice-strategy');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'first-choice-strategy', version: '1.2.3', main: 'index.js' }));
  writeFileSync(
    join(pkg, 'index.js'),
    `const { definePlugin, z } = require('hwnas/plugins');
module.exports = definePlugin({
  kind: 'search-strategy', mode: 'multi-trial', name: 'first-choice', version: '1.2.3',
  configSchema: z.object({ trials: z.number().int().default(3) }).strict(),
  init: () => ({ proposed: 0, best: null }),
  propose: (s, rng, { config, space }) => s.proposed >= config.trials ? { state: s, candidate: null, done: true }
    : { state: { ...s, proposed: s.proposed + 1 }, candidate: { trial: s.proposed, choices: space.options.map(() => s.proposed % 2) }, done: false },
  observe: (s, r) => (s.best && s.best.score >= r.score ? s : { ...s, best: r }),
  best: (s) => s.best,
});
`,
  );
  const pipelineFile = join(project, 'pipeline.yaml');
  writeFileSync(
    pipelineFile,
    `version: 1
name: from-a-package
dataset: { name: fashion-mnist }
plugins: [first-choice-strategy]
stages:
  baselineSearch:
    strategy: { plugin: first-choice }
    epochs: 1
`,
  );
  const search = workflowInput(resolvePipelineFile(pipelineFile), 'pkg-1', join(root, 'artifacts')).stages.search;
  if (search?.mode !== 'multi-trial' || !search.strategySet) throw new Error('expected a multi-trial search on a strategy set of its own');
  expect(search.strategySet.modules).toEqual([{ file: join(pkg, 'index.js'), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), strategies: ['first-choice@1.2.3'] }]);
  const native = await NativeConnection.connect({ address: server.address });
  const queue = strategyQueueOf(QUEUE, search.strategySet.id);
  const worker = await Worker.create({ connection: native, taskQueue: queue, workflowBundle: await workflowBundle([search.strategySet]) });
  const result = await worker.runUntil(
    client.workflow.execute(multiTrialSearchWorkflow, { workflowId: 'pkg-1.search', taskQueue: queue, args: [{ ...search.input, activityQueue: QUEUE }] }),
  );
  await native.close();
  expect(result.trials).toBe(3);
  // The stub scores higher options higher: the odd trials' all-1 nets win.
  expect(result.best.choices.every((c) => c === 1)).toBe(true);
});

test('a strategy module that imports Node APIs is refused as workflow code, naming the module', async () => {
  const file = join(plugins, 'node-api-strategy.ts');
  const set = strategySetOf([file])!;
  await expect(workflowBundle([set])).rejects.toThrow(new RegExp(`cannot build workflow code with the strategy module ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: node:fs cannot be bundled \\(imported by \\./.*node-api-strategy\\.ts\\)`));
});

test('a strategy set is keyed by content: an edit changes its id and is named as a change', () => {
  const dir = mkdtempSync(join(root, 'edit-'));
  const file = join(dir, 'strategy.ts');
  const source = `import { definePlugin, z } from 'hwnas/plugins';
export default definePlugin({ kind: 'search-strategy', mode: 'multi-trial', name: 'edited', version: '1.0.0', configSchema: z.object({}),
  init: () => 0, propose: (s: number) => ({ state: s, candidate: null, done: true }), observe: (s: number) => s, best: () => null });
`;
  writeFileSync(file, source);
  const before = strategySetOf([file])!;
  expect(strategySetOf([file])!.id).toBe(before.id);
  expect(before.modules[0].strategies).toEqual(['edited@1.0.0']);
  // What the run records of it, and what `nas resume` checks before it goes on.
  const recorded = [{ kind: 'search-strategy' as const, name: 'edited', version: '1.0.0', source: file, sha256: before.modules[0].sha256 }];
  expect(changedPlugins(recorded, true)).toEqual([]);
  writeFileSync(file, `${source}// a comment\n`);
  expect(strategySetOf([file])!.id).not.toBe(before.id);
  expect(changedPlugins(recorded, true)).toEqual([expect.stringMatching(new RegExp(`^search strategy ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(edited@1.0.0\\) changed since the run started`))]);
  rmSync(file);
  expect(changedPlugins(recorded, true)).toEqual([`search strategy ${file} (edited@1.0.0) is gone`]);
  // A cluster's workers hold their own copies: a file missing here is not a change.
  expect(changedPlugins(recorded, false)).toEqual([]);
});
