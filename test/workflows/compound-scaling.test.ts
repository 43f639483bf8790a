/**
 * compoundScalingWorkflow with stub trials: which grid points it trains and where, how it chooses
 * (accuracy, accuracy against latency, limits, ties), what it writes, and how it fails.
 */
import { ApplicationFailure } from '@temporalio/client';
import type { ScalingTrialInput } from '../../activities/scaling-trial';
import { runLayout } from '../../core/run-layout';
import { gridTrials, pointLabel } from '../../core/scaling-grid';
import { compoundScalingWorkflow, scalingProgressQuery, type CompoundScalingInput } from '../../workflows/compound-scaling';
import { trialQueueOf } from '../../workflows/task-queues';
import { useStubWorkers } from '../support/workflow-env';
import { failureOf, newRunId, planned, scaledModels as scaled, scalingResult, sleep } from './stubs';

jest.setTimeout(60_000);
const stubs = useStubWorkers();

/** Four grid points at phi = 1, planned from a pipeline with a target to measure on. */
function scalingInput(extra: Partial<CompoundScalingInput> = {}): CompoundScalingInput {
  const stage = `  compoundScaling: { baseline: efficientnet-b0, gridStep: 0.1, maxCoefficient: 1.5, tolerance: 0.05, trialBudget: 4, epochs: 2, phis: [1, 2], target: proxy }`;
  const { baseline, ...scaling } = planned(stage, newRunId('scaling')).stages.scaling!;
  expect(baseline).toBe('efficientnet-b0');
  return { ...scaling, baseline: { named: 'efficientnet-b0' }, parallelTrials: 2, ...extra };
}

const labelOf = (p: ScalingTrialInput) => pointLabel(p.point);

test('trains the trial budget of grid points on the trials queue, at most parallelTrials at once, and tabulates them in grid order', async () => {
  const input = scalingInput();
  const points = gridTrials(input.grid);
  expect(points).toHaveLength(4);
  let running = 0;
  let mostAtOnce = 0;
  const accuracy = [0.6, 0.9, 0.7, 0.8];
  const calls = stubs.serve({
    scalingTrial: async (trial) => {
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      const i = points.findIndex((p) => pointLabel(p) === labelOf(trial));
      // Earlier points finish later, so completion order is the reverse of grid order.
      await sleep(40 * (points.length - i));
      running--;
      return scalingResult(trial, { validationAccuracy: accuracy[i], latencyMs: 10 + i });
    },
    writeJson: async ({ key }) => key,
    scaledArchitectures: async (i) => scaled(i),
  });
  const handle = await stubs.start(compoundScalingWorkflow, input);
  const result = await handle.result();

  // Scheduled in grid order, each with the stage's training settings and the target.
  const scheduled = (await stubs.scheduled(handle)).filter((a) => a.activity === 'scalingTrial');
  expect(scheduled.map((a) => labelOf(a.input as ScalingTrialInput))).toEqual(points.map(pointLabel));
  expect(calls.of('scalingTrial')).toHaveLength(4);
  for (const trial of calls.of('scalingTrial')) {
    expect(trial).toMatchObject({ runId: input.runId, baseline: { named: 'efficientnet-b0' }, epochs: 2, target: { id: 'proxy', plugin: 'macs' }, checkpointEverySteps: 100 });
  }
  expect(calls.queuesOf('scalingTrial')).toEqual([trialQueueOf(stubs.taskQueue)]);
  expect(mostAtOnce).toBe(2);
  // Timeouts as the stage configures them (DSL default 120 s).
  expect(calls.all.find((c) => c.activity === 'scalingTrial')?.heartbeatTimeoutMs).toBe(120_000);

  const [table] = calls.of('writeJson');
  expect(calls.queuesOf('writeJson')).toEqual([stubs.taskQueue]);
  expect(table.key).toBe(runLayout(input.runId).scaling.table);
  const written = table.value as { chosen: string; candidates: { alpha: number; beta: number; gamma: number; validationAccuracy: number; eligible: boolean; latencyMs: number | null; cost: number }[] };
  expect(written.candidates.map(pointLabel)).toEqual(points.map(pointLabel));
  expect(written.candidates.map((c) => c.validationAccuracy)).toEqual(accuracy);
  expect(written.candidates.map((c) => c.cost)).toEqual(points.map((p) => p.cost));
  expect(written.chosen).toBe(pointLabel(points[1]));

  // Step 2: the chosen coefficients scaled for every phi, on the main queue.
  expect(calls.of('scaledArchitectures')).toEqual([
    expect.objectContaining({ runId: input.runId, baseline: { named: 'efficientnet-b0' }, coefficients: { alpha: points[1].alpha, beta: points[1].beta, gamma: points[1].gamma }, phis: [1, 2] }),
  ]);
  expect(calls.queuesOf('scaledArchitectures')).toEqual([stubs.taskQueue]);
  expect(calls.names().filter((n) => n !== 'scalingTrial')).toEqual(['writeJson', 'scaledArchitectures']);
  expect(result).toEqual({
    alpha: points[1].alpha,
    beta: points[1].beta,
    gamma: points[1].gamma,
    chosen: { validationAccuracy: 0.9, macs: 100_000, params: 10_000, latencyMs: 11, score: 0.9 },
    trials: 4,
    tableKey: runLayout(input.runId).scaling.table,
    scaled: scaled(input),
  });
});

test('the progress query counts the trials and names the best point', async () => {
  const input = scalingInput({ parallelTrials: 4 });
  const points = gridTrials(input.grid);
  stubs.serve({
    scalingTrial: async (t) => scalingResult(t, { validationAccuracy: labelOf(t) === pointLabel(points[2]) ? 0.95 : 0.5 }),
    writeJson: async ({ key }) => key,
    scaledArchitectures: async (i) => scaled(i),
  });
  const handle = await stubs.start(compoundScalingWorkflow, input);
  await handle.result();
  expect(await handle.query(scalingProgressQuery)).toEqual({ planned: 4, done: 4, running: 0, best: { point: pointLabel(points[2]), validationAccuracy: 0.95 } });
});

test('equal scores go to the point with fewer MACs', async () => {
  const input = scalingInput();
  const points = gridTrials(input.grid);
  const macs = [400, 300, 100, 200];
  stubs.serve({
    scalingTrial: async (t) => scalingResult(t, { validationAccuracy: 0.8, macs: macs[points.findIndex((p) => pointLabel(p) === labelOf(t))] }),
    writeJson: async ({ key }) => key,
    scaledArchitectures: async (i) => scaled(i),
  });
  const result = await stubs.execute(compoundScalingWorkflow, input);
  expect(pointLabel(result)).toBe(pointLabel(points[2]));
  expect(result.chosen.macs).toBe(100);
});

describe('accuracy-latency', () => {
  /** The most accurate point is by far the slowest. */
  const measured = [
    { validationAccuracy: 0.9, latencyMs: 100 },
    { validationAccuracy: 0.88, latencyMs: 10 },
    { validationAccuracy: 0.85, latencyMs: 12 },
    { validationAccuracy: 0.8, latencyMs: 14 },
  ];
  async function choose(extra: Partial<CompoundScalingInput>) {
    const input = scalingInput({ objective: 'accuracy-latency', ...extra });
    const points = gridTrials(input.grid);
    const calls = stubs.serve({
      scalingTrial: async (t) => scalingResult(t, measured[points.findIndex((p) => pointLabel(p) === labelOf(t))]),
      writeJson: async ({ key }) => key,
      scaledArchitectures: async (i) => scaled(i),
    });
    const result = await stubs.execute(compoundScalingWorkflow, input);
    return { points, result, calls };
  }

  test('scores accuracy * (latency / median)^-0.07 by default, so a much slower point loses', async () => {
    const { points, result } = await choose({});
    // Median of 10, 12, 14, 100 is 13.
    expect(pointLabel(result)).toBe(pointLabel(points[1]));
    expect(result.chosen.score).toBeCloseTo(0.88 * (10 / 13) ** -0.07, 12);
  });

  test('a weight of 0 and an explicit reference latency are used as given', async () => {
    const { points, result } = await choose({ latency: { weight: 0, referenceMs: 1 } });
    expect(pointLabel(result)).toBe(pointLabel(points[0]));
    expect(result.chosen.score).toBe(0.9);
  });

  test('a latency limit keeps slower points out of the choice but in the table', async () => {
    const { points, result, calls } = await choose({ objective: 'accuracy', limits: { latencyMs: 12 } });
    expect(pointLabel(result)).toBe(pointLabel(points[1]));
    const table = calls.of('writeJson')[0].value as { candidates: { eligible: boolean }[] };
    expect(table.candidates.map((c) => c.eligible)).toEqual([false, true, true, false]);
  });
});

test('a MACs limit that no point meets fails after the table is written, naming it, and scales nothing', async () => {
  const input = scalingInput({ limits: { macs: 10 } });
  const calls = stubs.serve({
    scalingTrial: async (t) => scalingResult(t, { validationAccuracy: 0.8, macs: 100 }),
    writeJson: async ({ key }) => key,
    scaledArchitectures: async (i) => scaled(i),
  });
  const { root: failure } = await failureOf(stubs.execute(compoundScalingWorkflow, input));
  expect(failure.type).toBe('NoEligibleCandidate');
  expect(failure.message).toBe(`no grid point meets the limits {"macs":10}; see ${runLayout(input.runId).scaling.table} for what each point measured`);
  const table = calls.of('writeJson')[0].value as { chosen?: string; candidates: { eligible: boolean }[] };
  expect(table.chosen).toBeUndefined();
  expect(table.candidates.map((c) => c.eligible)).toEqual([false, false, false, false]);
  expect(calls.of('scaledArchitectures')).toEqual([]);
});

test.each([
  ['accuracy-latency without a target', { objective: 'accuracy-latency' as const, target: undefined }, 'the accuracy-latency objective needs a hardware target: set compoundScaling.target'],
  ['a latency limit without a target', { limits: { latencyMs: 5 }, target: undefined }, 'a latency limit needs a hardware target to measure on'],
  ['a grid with no point near the cost ratio', { grid: { gridStep: 0.5, maxCoefficient: 1.5, costRatio: 2, tolerance: 0.01, trialBudget: 4 } }, 'no (alpha, beta, gamma) with step 0.5 up to 1.5 has alpha*beta^2*gamma^2 within 1% of 2: raise tolerance or maxCoefficient, or use a finer gridStep'],
])('%s is refused before any trial runs', async (_what, extra, message) => {
  const calls = stubs.serve({});
  const { root: failure } = await failureOf(stubs.execute(compoundScalingWorkflow, scalingInput(extra)));
  expect(failure).toMatchObject({ type: 'ConfigError', message, nonRetryable: true });
  expect(calls.all).toEqual([]);
});

test('a trial that fails for good fails the stage at its first attempt, with nothing tabulated', async () => {
  const input = scalingInput();
  const calls = stubs.serve({
    scalingTrial: async (t) => {
      throw ApplicationFailure.nonRetryable(`point ${labelOf(t)} builds no network`, 'ArchError');
    },
  });
  const { root: failure } = await failureOf(stubs.execute(compoundScalingWorkflow, input));
  expect(failure.type).toBe('ArchError');
  expect(calls.all.every((c) => c.activity === 'scalingTrial' && c.attempt === 1)).toBe(true);
  expect(calls.of('writeJson')).toEqual([]);
});
