/**
 * oneShotSearchWorkflow with stub activities: when the latency table is built and where its key
 * goes, the epoch loop, the result, and band trials after the supernet (plain and with successive
 * halving), including the pick that the search hands on.
 */
import { ApplicationFailure } from '@temporalio/client';
import type { SupernetEpochInput } from '../../activities/supernet-epoch';
import type { TrainTrialInput } from '../../activities/train-trial';
import { runLayout } from '../../core/run-layout';
import type { BandTrialsSummary } from '../../workflows/band-trials';
import { oneShotProgressQuery, oneShotSearchWorkflow, resultArchKey, type OneShotSearchInput } from '../../workflows/one-shot-search';
import { trialQueueOf } from '../../workflows/task-queues';
import { useStubWorkers, type ActivityInput } from '../support/workflow-env';
import { bandCandidates, epochMetrics, failureOf, newRunId, planned, trialMetrics } from './stubs';

jest.setTimeout(60_000);
const stubs = useStubWorkers();

/** A one-shot search as planned from `fields` of stages.baselineSearch. */
function searchInput(fields: string, targets?: string): OneShotSearchInput {
  const search = planned(`  baselineSearch: { strategy: { plugin: proxyless-gradient }, epochs: 3, warmupEpochs: 1, ${fields} }`, newRunId('one-shot'), targets).stages.search!;
  if (search.mode !== 'one-shot') throw new Error(`planned a ${search.mode} search`);
  return search.input;
}

const tableKey = (input: { runId?: string }) => `${runLayout(String(input.runId)).root}latency-table.json`;
const epochsOf = (calls: ActivityInput<'supernetEpoch'>[]) => calls as SupernetEpochInput[];

test('without latency (weight 0) no table is built and the epochs train without one; the result is the last epoch', async () => {
  const input = searchInput('latencyWeight: 0, target: proxy');
  const calls = stubs.serve({ supernetEpoch: async (e) => epochMetrics(e) });
  const result = await stubs.execute(oneShotSearchWorkflow, input);

  expect(calls.names()).toEqual(['supernetEpoch', 'supernetEpoch', 'supernetEpoch']);
  const epochs = epochsOf(calls.of('supernetEpoch'));
  expect(epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
  for (const e of epochs) {
    expect(e).toMatchObject({ runId: input.runId, epochs: 3, warmupEpochs: 1, strategy: 'proxyless-gradient', latencyWeight: 0, checkpointEverySteps: 100 });
    expect(e.latencyTableKey).toBeUndefined();
    // The plugin's config travels to the activity, which parses it with the plugin's schema.
    expect(e.strategyConfig).toEqual(input.strategy.config);
  }
  expect(calls.all[0].heartbeatTimeoutMs).toBe(30_000);
  expect(result).toEqual({
    epochs: epochs.map((e) => epochMetrics(e)),
    latencyTableKey: undefined,
    derivedArchKey: runLayout(input.runId).search.derived,
    blocks: epochMetrics(epochs[2]).blocks,
    validationAccuracy: 0.52,
    expectedLatencyMs: undefined,
    band: undefined,
  });
  expect(resultArchKey(result)).toBe(result.derivedArchKey);
});

test('without a hardware target no table is built, whatever the latency weight', async () => {
  const input = searchInput('latencyWeight: 0.5', '{}');
  expect(input.target).toBeUndefined();
  const calls = stubs.serve({ supernetEpoch: async (e) => epochMetrics(e) });
  await stubs.execute(oneShotSearchWorkflow, input);
  expect(calls.of('buildLatencyTable')).toEqual([]);
  expect(epochsOf(calls.of('supernetEpoch')).map((e) => e.latencyTableKey)).toEqual([undefined, undefined, undefined]);
});

test('with a target and a latency weight the table is built once, before the first epoch, and every epoch prices latency by it', async () => {
  const input = searchInput('latencyWeight: 0.5, targetLatencyMs: 4, latencyPenalty: absolute, target: proxy');
  const calls = stubs.serve({ buildLatencyTable: async (t) => tableKey(t), calibrateLatencyModel: async () => undefined, supernetEpoch: async (e) => epochMetrics(e) });
  const handle = await stubs.start(oneShotSearchWorkflow, input);
  const result = await handle.result();

  expect(calls.names()).toEqual(['buildLatencyTable', 'calibrateLatencyModel', 'supernetEpoch', 'supernetEpoch', 'supernetEpoch']);
  expect(calls.of('buildLatencyTable')).toEqual([
    expect.objectContaining({ runId: input.runId, targetId: 'proxy', plugin: 'macs', space: input.space, dataset: input.dataset, seed: 7 }),
  ]);
  for (const e of epochsOf(calls.of('supernetEpoch'))) expect(e).toMatchObject({ latencyTableKey: tableKey(input), latencyWeight: 0.5, latencyTargetMs: 4 });
  expect(result.latencyTableKey).toBe(tableKey(input));
  expect(result.expectedLatencyMs).toBe(7);
  expect(await handle.query(oneShotProgressQuery)).toEqual({ epochsDone: 3, epochs: 3, last: result.epochs[2] });
});

test('a failing epoch fails the search and no later epoch starts', async () => {
  const input = searchInput('latencyWeight: 0');
  const calls = stubs.serve({
    supernetEpoch: async (e) => {
      if ((e as SupernetEpochInput).epoch === 1) throw ApplicationFailure.nonRetryable('the checkpoint belongs to another space', 'SupernetCheckpointError');
      return epochMetrics(e);
    },
  });
  const { root } = await failureOf(stubs.execute(oneShotSearchWorkflow, input));
  expect(root.type).toBe('SupernetCheckpointError');
  expect(epochsOf(calls.of('supernetEpoch')).map((e) => e.epoch)).toEqual([0, 1]);
});

test('on a timed target the table is calibrated once, after the table: the epochs and the band draws price by its calibration', async () => {
  const input = searchInput('latencyWeight: 0.5, target: cpu, calibrationNets: 30, bandTrials: { trials: 2 }');
  const calibrationKey = (t: { tableKey: string }) => t.tableKey.replace(/\.json$/, '.calibration-30.json');
  const check = { nets: 30, spearman: 0.9, within10: 0.8, medianError: 0.05, meanBias: 0.01 };
  const calls = stubs.serve({
    buildLatencyTable: async (t) => tableKey(t),
    calibrateLatencyModel: async (c) => ({ key: calibrationKey(c), targetId: c.targetId, nets: 30, use: 'predictor' as const, plain: { ...check, within10: 0.1 }, predictor: check }),
    supernetEpoch: async (e) => epochMetrics(e),
    drawBandCandidates: async (d) => bandCandidates(d),
    trainTrial: async (t) => trialMetrics(t, 0.7),
    writeJson: async ({ key }) => key,
  });
  const result = await stubs.execute(oneShotSearchWorkflow, input);
  expect(calls.names().slice(0, 3)).toEqual(['buildLatencyTable', 'calibrateLatencyModel', 'supernetEpoch']);
  expect(calls.of('calibrateLatencyModel')).toEqual([
    expect.objectContaining({ runId: input.runId, targetId: 'cpu', plugin: 'node-cpu', tableKey: tableKey(input), nets: 30, space: input.space, dataset: input.dataset, seed: 7 }),
  ]);
  const key = calibrationKey({ tableKey: tableKey(input) });
  for (const e of epochsOf(calls.of('supernetEpoch'))) expect(e).toMatchObject({ latencyTableKey: tableKey(input), latencyCalibrationKey: key });
  expect(calls.of('drawBandCandidates')).toEqual([expect.objectContaining({ latencyTableKey: tableKey(input), latencyCalibrationKey: key })]);
  expect(result.latencyCalibration).toEqual({ key, targetId: 'cpu', nets: 30, use: 'predictor', plain: { ...check, within10: 0.1 }, predictor: check });
});

describe('band trials', () => {
  test('train the derived net and its band on the trials queue; the most accurate becomes the search result', async () => {
    const input = searchInput('latencyWeight: 0.5, target: proxy, parallelTrials: 2, bandTrials: { trials: 3, epochs: 2, band: 0.2 }');
    const accuracy = [0.7, 0.72, 0.8, 0.75];
    const calls = stubs.serve({
      buildLatencyTable: async (t) => tableKey(t),
      calibrateLatencyModel: async () => undefined,
      supernetEpoch: async (e) => epochMetrics(e),
      drawBandCandidates: async (d) => bandCandidates(d),
      trainTrial: async (t) => trialMetrics(t, accuracy[t.trial]),
      writeJson: async ({ key }) => key,
    });
    const result = await stubs.execute(oneShotSearchWorkflow, input);

    const derivedChoices = epochMetrics(calls.of('supernetEpoch')[2]).choices;
    expect(calls.of('drawBandCandidates')).toEqual([
      expect.objectContaining({ latencyTableKey: tableKey(input), reference: derivedChoices, count: 3, band: 0.2, seed: 7, inputResolution: 28, dataset: input.dataset }),
    ]);
    const trials = calls.of('trainTrial');
    expect(trials.map((t) => t.trial).sort()).toEqual([0, 1, 2, 3]);
    // Trial 0 is the derived net; each trains alone for the band's epochs, on the trials queue.
    expect(trials.find((t) => t.trial === 0)?.choices).toEqual(derivedChoices);
    for (const t of trials) expect(t).toMatchObject<Partial<TrainTrialInput>>({ epochs: 2, runId: input.runId, space: input.space, batchSize: input.batchSize });
    expect(calls.queuesOf('trainTrial')).toEqual([trialQueueOf(stubs.taskQueue)]);

    const [summary] = calls.of('writeJson');
    expect(summary.key).toBe(runLayout(input.runId).search.bandTrials);
    const written = summary.value as BandTrialsSummary;
    expect(written).toMatchObject({ draws: 9, referenceMs: 10, pick: 2, config: input.bandTrials });
    expect(written.trials.map((t) => [t.trial, t.tableMs])).toEqual([[0, 10], [1, 9.9], [2, 9.8], [3, 9.7]]);

    expect(result.band).toMatchObject({ trials: 4, draws: 9, summaryKey: summary.key, derived: { trial: 0 }, pick: { trial: 2, validationAccuracy: 0.8 } });
    expect(result.band?.budgets).toBeUndefined();
    expect(resultArchKey(result)).toBe(trialMetrics(trials.find((t) => t.trial === 2)!, 0).archKey);
  });

  test('a tie goes to the derived net', async () => {
    const input = searchInput('latencyWeight: 0.5, target: proxy, bandTrials: { trials: 2 }');
    stubs.serve({
      buildLatencyTable: async (t) => tableKey(t),
      calibrateLatencyModel: async () => undefined,
      supernetEpoch: async (e) => epochMetrics(e),
      drawBandCandidates: async (d) => bandCandidates(d),
      trainTrial: async (t) => trialMetrics(t, 0.75),
      writeJson: async ({ key }) => key,
    });
    const result = await stubs.execute(oneShotSearchWorkflow, input);
    expect(result.band?.pick.trial).toBe(0);
  });

  test('with halving, the best 1/eta of each rung train again eta times longer and the pick comes from the last rung', async () => {
    const input = searchInput('latencyWeight: 0.5, target: proxy, parallelTrials: 4, bandTrials: { trials: 3, epochs: 1, halving: { eta: 2, maxEpochs: 4 } }');
    // Band net i (by its choices) is worth i; a longer training adds a little.
    const calls = stubs.serve({
      buildLatencyTable: async (t) => tableKey(t),
      calibrateLatencyModel: async () => undefined,
      supernetEpoch: async (e) => epochMetrics(e),
      drawBandCandidates: async (d) => ({ ...bandCandidates(d), candidates: [0, 1, 2].map((i) => ({ choices: [i + 1, 0, 0, 0, 0, 0], blocks: [`band-${i}`], tableMs: 9 - i })) }),
      trainTrial: async (t) => trialMetrics(t, t.choices[0] / 10 + t.epochs / 100),
      writeJson: async ({ key }) => key,
    });
    const result = await stubs.execute(oneShotSearchWorkflow, input);

    const trials = calls.of('trainTrial').sort((a, b) => a.trial - b.trial);
    expect(trials.map((t) => [t.trial, t.epochs, t.choices[0]])).toEqual([
      [0, 1, 1], // the derived net, [1, 0, 1, ...]
      [1, 1, 1],
      [2, 1, 2],
      [3, 1, 3],
      [4, 2, 3], // the best two of four
      [5, 2, 2],
      [6, 4, 3], // the best of two
    ]);
    expect(result.band?.pick).toMatchObject({ trial: 6, epochs: 4, tableMs: 7 });
    expect(result.band?.budgets?.rungs.map((r) => [r.epochs, r.trials])).toEqual([[1, 4], [2, 2], [4, 1]]);
    expect((calls.of('writeJson')[0].value as BandTrialsSummary).pick).toBe(6);
  });

  test('without a latency table they are refused for good', async () => {
    const input = { ...searchInput('latencyWeight: 0, target: proxy'), bandTrials: { trials: 2, epochs: 1, band: 0.1, parallelTrials: 1 } };
    const calls = stubs.serve({ supernetEpoch: async (e) => epochMetrics(e) });
    const { root } = await failureOf(stubs.execute(oneShotSearchWorkflow, input));
    expect(root).toMatchObject({ type: 'PipelineValidationError', message: expect.stringContaining('band trials draw nets by the latency table') });
    expect(calls.of('drawBandCandidates')).toEqual([]);
  });
});
