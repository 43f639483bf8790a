/**
 * The compound-scaling stage (EfficientNet, BRIEF 3.1). Step 1: enumerate (alpha, beta, gamma) at
 * phi = 1 with alpha * beta^2 * gamma^2 near the cost ratio, train each point as its own trial
 * activity (bounded parallelism), choose by the objective. Step 2: keep the chosen coefficients and
 * scale the baseline for every configured phi. The workflow holds coefficients and metrics only;
 * architectures, the table and scaled models live in the artifact store.
 */
import { ApplicationFailure, defineQuery, proxyActivities, setHandler, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { ScaledArchitecture, ScalingBaseline, ScalingTrialInput, ScalingTrialResult, scaledArchitectures, scalingTrial } from '../activities/scaling-trial';
import type { writeJson } from '../activities/write-json';
import type { StageDataRef } from '../core/stage-settings';
import { gridTrials, pointLabel, type GridOptions } from '../core/scaling-grid';
import { forEachInPool } from './pool';
import { trialQueueOf } from './task-queues';
import { retryPolicy } from './policies';
import { accuracyLatencyReward } from '../core/objectives';
import { runLayout } from '../core/run-layout';
import type { RunContext, TargetRef } from '../core/refs';
import type { ScalingTable } from '../core/artifact-files';

/**
 * Activities this workflow calls. activities/index.ts must export `scalingTrial` and
 * `scaledArchitectures` (from ./scaling-trial) next to the already registered `writeJson`.
 */
export const scalingActivities = ['scalingTrial', 'scaledArchitectures', 'writeJson'] as const;
type ScalingActivities = {
  scalingTrial: typeof scalingTrial;
  scaledArchitectures: typeof scaledArchitectures;
  writeJson: typeof writeJson;
};

export interface CompoundScalingInput extends RunContext {
  seed: number;
  dataset: StageDataRef;
  baseline: ScalingBaseline;
  /** The DSL's gridStep, maxCoefficient, costRatio, tolerance and trialBudget. */
  grid: GridOptions & { trialBudget: number };
  phis: number[];
  objective: 'accuracy' | 'accuracy-latency';
  /** Measured on every trial when set; required by 'accuracy-latency' and by `limits.latencyMs`. */
  target?: TargetRef;
  /**
   * 'accuracy-latency' score: accuracy * (latency / referenceMs)^-weight (MnasNet's soft form).
   * referenceMs defaults to the median latency of the trained points; weight to 0.07.
   */
  latency?: { weight?: number; referenceMs?: number };
  /** Hard limits: points above them are never chosen (they stay in the table). */
  limits?: { latencyMs?: number; macs?: number };
  epochs: number;
  batchSize: number;
  learningRate: number;
  parallelTrials: number;
  pluginFiles: string[];
  /** Steps between a trial's checkpoints; absent: none, a retried trial starts over. */
  checkpointEverySteps?: number;
  /** How long a trial may stay silent before it is retried elsewhere; default 120. */
  heartbeatTimeoutSeconds?: number;
}

export interface ScalingCandidate extends ScalingTrialResult {
  cost: number;
  score: number;
  eligible: boolean;
}

export interface CompoundScalingResult {
  alpha: number;
  beta: number;
  gamma: number;
  chosen: { validationAccuracy: number; macs: number; params: number; latencyMs?: number; score: number };
  trials: number;
  tableKey: string;
  scaled: ScaledArchitecture[];
}

export interface ScalingProgress {
  planned: number;
  done: number;
  running: number;
  best?: { point: string; validationAccuracy: number };
}

export const scalingProgressQuery = defineQuery<ScalingProgress>('scalingProgress');

const DEFAULT_LATENCY_WEIGHT = 0.07;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Scores and eligibility of every trained point; pure, so tests and the CLI can reuse it. */
export function rankCandidates(
  results: (ScalingTrialResult & { cost: number })[],
  o: Pick<CompoundScalingInput, 'objective' | 'latency' | 'limits'>,
): ScalingCandidate[] {
  const latencies = results.flatMap((r) => (r.latencyMs === undefined ? [] : [r.latencyMs]));
  const reference = o.latency?.referenceMs ?? (latencies.length ? median(latencies) : 1);
  const weight = o.latency?.weight ?? DEFAULT_LATENCY_WEIGHT;
  return results.map((r) => {
    const score =
      o.objective === 'accuracy-latency' && r.latencyMs !== undefined
        ? accuracyLatencyReward(r.validationAccuracy, r.latencyMs, reference, weight)
        : r.validationAccuracy;
    const overLatency = o.limits?.latencyMs !== undefined && (r.latencyMs === undefined || r.latencyMs > o.limits.latencyMs);
    const overMacs = o.limits?.macs !== undefined && r.macs > o.limits.macs;
    return { ...r, score, eligible: !overLatency && !overMacs };
  });
}

/** The best eligible candidate; ties go to the cheaper point (fewer MACs), then grid order. */
export function chooseCandidate(candidates: ScalingCandidate[]): ScalingCandidate | undefined {
  return candidates
    .filter((c) => c.eligible)
    .reduce<ScalingCandidate | undefined>((best, c) => (!best || c.score > best.score || (c.score === best.score && c.macs < best.macs) ? c : best), undefined);
}

/** `scaling/table.json`: every grid point as measured and scored, and the one chosen. */
export function scalingTable(
  input: Pick<CompoundScalingInput, 'objective' | 'grid' | 'limits'> & { target?: { id: string } },
  candidates: ScalingCandidate[],
  chosen: ScalingCandidate | undefined,
): ScalingTable {
  return {
    objective: input.objective,
    target: input.target?.id,
    grid: input.grid,
    limits: input.limits,
    chosen: chosen && pointLabel(chosen),
    candidates: candidates.map((c) => ({
      alpha: c.alpha,
      beta: c.beta,
      gamma: c.gamma,
      cost: c.cost,
      resolution: c.resolution,
      macs: c.macs,
      params: c.params,
      latencyMs: c.latencyMs ?? null,
      validationAccuracy: c.validationAccuracy,
      score: c.score,
      eligible: c.eligible,
      archKey: c.archKey,
    })),
  };
}

export async function compoundScalingWorkflow(input: CompoundScalingInput): Promise<CompoundScalingResult> {
  if (input.objective === 'accuracy-latency' && !input.target) {
    throw ApplicationFailure.nonRetryable('the accuracy-latency objective needs a hardware target: set compoundScaling.target', 'ConfigError');
  }
  if (input.limits?.latencyMs !== undefined && !input.target) {
    throw ApplicationFailure.nonRetryable('a latency limit needs a hardware target to measure on', 'ConfigError');
  }
  const activityOptions: ActivityOptions = {
    startToCloseTimeout: '6h',
    // Trials heartbeat every step, but not through their final validation pass and latency measurement.
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds ?? 120}s`,
    retry: retryPolicy('short'),
  };
  // Trials run side by side on the trials queue; the rest is bookkeeping on the main one.
  const { scalingTrial } = proxyActivities<ScalingActivities>({ ...activityOptions, taskQueue: trialQueueOf(workflowInfo().taskQueue) });
  const { scaledArchitectures, writeJson } = proxyActivities<ScalingActivities>(activityOptions);

  const points = gridTrials(input.grid);
  if (points.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `no (alpha, beta, gamma) with step ${input.grid.gridStep} up to ${input.grid.maxCoefficient} has alpha*beta^2*gamma^2 within ${input.grid.tolerance * 100}% of ${input.grid.costRatio}: raise tolerance or maxCoefficient, or use a finer gridStep`,
      'ConfigError',
    );
  }

  const results: (ScalingTrialResult & { cost: number })[] = [];
  let running = 0;
  setHandler(scalingProgressQuery, () => {
    const best = results.reduce<(typeof results)[number] | undefined>((b, r) => (!b || r.validationAccuracy > b.validationAccuracy ? r : b), undefined);
    return { planned: points.length, done: results.length, running, best: best && { point: pointLabel(best), validationAccuracy: best.validationAccuracy } };
  });

  await forEachInPool(points, input.parallelTrials, async (p) => {
    const trialInput: ScalingTrialInput = {
      runId: input.runId,
      artifactLocation: input.artifactLocation,
      seed: input.seed,
      dataset: input.dataset,
      baseline: input.baseline,
      point: { alpha: p.alpha, beta: p.beta, gamma: p.gamma },
      epochs: input.epochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      target: input.target,
      pluginFiles: input.pluginFiles,
      checkpointEverySteps: input.checkpointEverySteps,
    };
    running++;
    const r = await scalingTrial(trialInput);
    running--;
    results.push({ ...r, cost: p.cost });
  });

  // Grid order, not completion order: the table is the same however the trials interleaved.
  const order = new Map(points.map((p, i) => [pointLabel(p), i]));
  results.sort((a, b) => (order.get(pointLabel(a)) ?? 0) - (order.get(pointLabel(b)) ?? 0));
  const candidates = rankCandidates(results, input);
  const chosen = chooseCandidate(candidates);
  const keys = { table: runLayout(input.runId).scaling.table };
  const tableKey = await writeJson({
    artifactLocation: input.artifactLocation,
    key: keys.table,
    value: scalingTable(input, candidates, chosen),
  });
  if (!chosen) {
    throw ApplicationFailure.nonRetryable(
      `no grid point meets the limits ${JSON.stringify(input.limits)}; see ${tableKey} for what each point measured`,
      'NoEligibleCandidate',
    );
  }

  const coefficients = { alpha: chosen.alpha, beta: chosen.beta, gamma: chosen.gamma };
  const scaled = await scaledArchitectures({
    runId: input.runId,
    artifactLocation: input.artifactLocation,
    seed: input.seed,
    dataset: input.dataset,
    baseline: input.baseline,
    coefficients,
    phis: input.phis,
  });
  return {
    ...coefficients,
    chosen: { validationAccuracy: chosen.validationAccuracy, macs: chosen.macs, params: chosen.params, latencyMs: chosen.latencyMs, score: chosen.score },
    trials: results.length,
    tableKey,
    scaled,
  };
}
