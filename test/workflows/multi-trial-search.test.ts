/**
 * multiTrialSearchWorkflow with stub trials: the strategy's proposals trained on the trials queue,
 * the score with and without latency, the summary, a strategy the bundle lacks, and a search that
 * continues as new part-way and ends where the uninterrupted one does.
 */
import type { TrainTrialInput } from '../../activities/train-trial';
import { runLayout } from '../../core/run-layout';
import { multiTrialSearchWorkflow, searchProgressQuery, type MultiTrialSearchInput, type TrialSummary } from '../../workflows/multi-trial-search';
import { trialQueueOf } from '../../workflows/task-queues';
import { useStubWorkers } from '../support/workflow-env';
import { accuracyOfChoices, failureOf, newRunId, planned, trialMetrics } from './stubs';

jest.setTimeout(60_000);
const stubs = useStubWorkers();

function searchInput(fields: string): MultiTrialSearchInput {
  const search = planned(`  baselineSearch: { epochs: 2, parallelTrials: 2, ${fields} }`, newRunId('multi-trial')).stages.search!;
  if (search.mode !== 'multi-trial') throw new Error(`planned a ${search.mode} search`);
  return search.input;
}

const accuracyOf = (t: TrainTrialInput) => accuracyOfChoices(t.choices);

function serveTrials(latencyMs?: (t: TrainTrialInput) => number) {
  return stubs.serve({
    trainTrial: async (t) => trialMetrics(t, accuracyOf(t), latencyMs?.(t)),
    writeJson: async ({ key }) => key,
  });
}

test('trains every proposal on the trials queue and returns the best by validation accuracy, with the summary written', async () => {
  const input = searchInput('strategy: { plugin: random, config: { trials: 5 } }, latencyWeight: 0');
  expect(input.latency).toBeUndefined();
  const calls = serveTrials();
  const handle = await stubs.start(multiTrialSearchWorkflow, input);
  const result = await handle.result();

  const trials = calls.of('trainTrial');
  expect(trials.map((t) => t.trial).sort()).toEqual([0, 1, 2, 3, 4]);
  for (const t of trials) {
    expect(t).toMatchObject({ runId: input.runId, epochs: 2, space: input.space, dataset: input.dataset, checkpointEverySteps: 100 });
    expect(t.target).toBeUndefined();
  }
  expect(calls.queuesOf('trainTrial')).toEqual([trialQueueOf(stubs.taskQueue)]);
  expect(calls.all[0].heartbeatTimeoutMs).toBe(30_000);

  const best = trials.reduce((b, t) => (accuracyOf(t) > accuracyOf(b) ? t : b));
  expect(result.best).toMatchObject({ trial: best.trial, score: accuracyOf(best), validationAccuracy: accuracyOf(best) });
  expect(result.trials).toBe(5);
  expect(result.budgets).toBeUndefined();
  const [summary] = calls.of('writeJson');
  expect(calls.queuesOf('writeJson')).toEqual([stubs.taskQueue]);
  expect(summary.key).toBe(runLayout(input.runId).search.summary);
  expect(result.summaryKey).toBe(summary.key);
  const written = summary.value as { best: TrialSummary; trials: TrialSummary[]; strategy: unknown };
  expect(written.trials.map((t) => t.trial)).toEqual([0, 1, 2, 3, 4]);
  expect(written.best).toEqual(result.best);
  expect(written.strategy).toEqual(input.strategy);
  expect(await handle.query(searchProgressQuery)).toMatchObject({ trialsDone: 5, trialsRunning: 0, best: { trial: best.trial } });
});

test('with a latency target the score is accuracy less weight * latency / reference (linear)', async () => {
  const input = searchInput('strategy: { plugin: random, config: { trials: 4 } }, target: proxy, latencyWeight: 0.5, targetLatencyMs: 10');
  expect(input.latency).toEqual({ target: { id: 'proxy', plugin: 'macs', config: expect.anything() }, weight: 0.5, referenceMs: 10, penalty: 'linear' });
  const calls = serveTrials((t) => 10 * (t.trial + 1));
  const result = await stubs.execute(multiTrialSearchWorkflow, input);
  for (const t of calls.of('trainTrial')) expect(t.target).toMatchObject({ id: 'proxy', plugin: 'macs' });
  const scores = (calls.of('writeJson')[0].value as { trials: TrialSummary[] }).trials.map((t) => t.score);
  const expected = calls.of('trainTrial').sort((a, b) => a.trial - b.trial).map((t) => accuracyOf(t) - 0.5 * (t.trial + 1));
  scores.forEach((s, i) => expect(s).toBeCloseTo(expected[i], 12));
  expect(result.best.score).toBe(Math.max(...scores));
});

test('an absolute penalty aims at the reference: faster costs as much as slower', async () => {
  const input = searchInput('strategy: { plugin: random, config: { trials: 3 } }, target: proxy, latencyWeight: 0.5, targetLatencyMs: 20, latencyPenalty: absolute');
  const calls = serveTrials((t) => [10, 20, 30][t.trial]);
  await stubs.execute(multiTrialSearchWorkflow, input);
  const byTrial = (calls.of('writeJson')[0].value as { trials: TrialSummary[] }).trials;
  const accuracy = (n: number) => accuracyOf(calls.of('trainTrial').find((t) => t.trial === n)!);
  expect(byTrial[0].score).toBeCloseTo(accuracy(0) - 0.25, 12);
  expect(byTrial[1].score).toBeCloseTo(accuracy(1), 12);
  expect(byTrial[2].score).toBeCloseTo(accuracy(2) - 0.25, 12);
});

test('a multi-fidelity strategy reports its budgets', async () => {
  const input = searchInput('strategy: { plugin: successive-halving, config: { candidates: 4, eta: 2, minEpochs: 1, maxEpochs: 2 } }, latencyWeight: 0');
  const calls = serveTrials();
  const result = await stubs.execute(multiTrialSearchWorkflow, input);
  expect(calls.of('trainTrial').map((t) => t.epochs).sort()).toEqual([1, 1, 1, 1, 2, 2]);
  expect(result.budgets?.rungs.map((r) => [r.epochs, r.trials])).toEqual([[1, 4], [2, 2]]);
  expect(result.best.epochs).toBe(2);
});

test('a strategy this workflow code lacks fails the search for good, naming the ones it has', async () => {
  const input = { ...searchInput('strategy: { plugin: random }, latencyWeight: 0'), strategy: { plugin: 'annealing', config: {} } };
  const calls = serveTrials();
  const { root } = await failureOf(stubs.execute(multiTrialSearchWorkflow, input));
  expect(root).toMatchObject({
    type: 'PluginLoadError',
    message: 'strategy "annealing" is not in this worker\'s workflow code (it has random, regularized-evolution, successive-halving); a worker serving it runs `nas worker --plugins FILE`',
  });
  expect(calls.all).toEqual([]);
});

describe('continue-as-new', () => {
  const fields = 'strategy: { plugin: regularized-evolution, config: { trials: 7, population: 3, sampleSize: 2 } }, latencyWeight: 0';
  const trained = (calls: ReturnType<typeof serveTrials>) => calls.of('trainTrial').map((t) => [t.trial, t.choices.join('')]).sort((a, b) => Number(a[0]) - Number(b[0]));

  test('one trial at a time, a search that hands over every two trials trains what one run would and ends with its best', async () => {
    const wholeCalls = serveTrials();
    const once = await stubs.execute(multiTrialSearchWorkflow, { ...searchInput(fields), parallelTrials: 1 });

    const splitCalls = serveTrials();
    const handle = await stubs.start(multiTrialSearchWorkflow, { ...searchInput(fields), parallelTrials: 1, trialsPerRun: 2 });
    const continued = await handle.result();

    expect(trained(splitCalls)).toEqual(trained(wholeCalls));
    expect(continued.best).toMatchObject({ trial: once.best.trial, choices: once.best.choices, score: once.best.score });
    expect(continued.trials).toBe(7);
    // The first run handed over rather than finishing; only the last writes the summary, of every trial.
    const first = await stubs.env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    expect(splitCalls.of('writeJson')).toHaveLength(1);
    expect((splitCalls.of('writeJson')[0].value as { trials: TrialSummary[] }).trials.map((t) => t.trial)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  test('two at a time, the trials in flight at a hand-over are observed by the next run where one run would have: the same trials and best', async () => {
    const wholeCalls = serveTrials();
    const once = await stubs.execute(multiTrialSearchWorkflow, searchInput(fields));

    const calls = serveTrials();
    const result = await stubs.execute(multiTrialSearchWorkflow, { ...searchInput(fields), trialsPerRun: 2 });
    // Each handed-over trial is asked for once more by the next run (its stored result answers).
    const distinct = (c: ReturnType<typeof serveTrials>) => [...new Map(trained(c).map(([trial, choices]) => [trial, choices])).entries()];
    expect(distinct(calls)).toEqual(distinct(wholeCalls));
    expect(result.best).toMatchObject({ trial: once.best.trial, choices: once.best.choices, score: once.best.score });
    expect(result.trials).toBe(7);
    expect((calls.of('writeJson')[0].value as { trials: TrialSummary[] }).trials.map((t) => t.trial)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
