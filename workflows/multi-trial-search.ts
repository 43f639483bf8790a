/**
 * Multi-trial baseline search: the strategy's decision code (random search, regularized evolution)
 * runs here, in workflow code, and every candidate is trained as its own trial activity on whatever
 * workers exist. Strategy state and trial results are small; architectures and weights stay in the
 * artifact store.
 */
import { ApplicationFailure, continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { TrainTrialInput, TrialMetrics, TrialTarget } from '../activities/train-trial';
import type { StageData } from '../dsl/dataset';
import { spaceShape, type SearchSpace } from '../dsl/search-space';
import type { MultiTrialStrategyPlugin, TrialResult } from '../plugins/api';
import random from '../plugins/builtin/random';
import regularizedEvolution from '../plugins/builtin/regularized-evolution';
import { seededRng } from '../plugins/rng';
import { latencyPenalty } from '../engine/supernet/latency-objective';
import { trialQueueOf } from './task-queues';

/**
 * Strategies whose decision code is bundled into the workflow code. User strategies pass `nas
 * plugin check` but are not bundled yet, so the run command refuses them up front.
 */
// any: each strategy's state type is private to it; the loop below only passes it back.
export const WORKFLOW_STRATEGIES: Record<string, MultiTrialStrategyPlugin<any, any>> = {
  [random.name]: random,
  [regularizedEvolution.name]: regularizedEvolution,
};

export interface MultiTrialSearchInput {
  runId: string;
  artifactLocation: string;
  seed: number;
  dataset: StageData;
  space: SearchSpace;
  strategy: { plugin: string; config: unknown };
  epochs: number;
  batchSize: number;
  learningRate: number;
  parallelTrials: number;
  /** Steps between a trial's checkpoints; absent: none, a retried trial starts over. */
  checkpointEverySteps?: number;
  /**
   * The target whose latency enters the score, with lambda and the reference latency; penalty
   * 'absolute' aims at the reference (lambda * |LAT / ref - 1|), absent or 'linear' prices it.
   */
  latency?: { target: TrialTarget; weight: number; referenceMs: number; penalty?: 'linear' | 'absolute' };
  pluginFiles: string[];
  /**
   * Trials one workflow run completes before it continues as new, so a long search keeps its
   * history bounded (Temporal also asks for it when the history grows large). Default 100.
   */
  trialsPerRun?: number;
  /** What an earlier run of this search hands on when it continues as new. */
  carried?: CarriedSearch;
}

/** The whole search state between two runs: small (one summary per trial, the strategy's state). */
export interface CarriedSearch {
  state: unknown;
  summaries: TrialSummary[];
  call: number;
  exhausted: boolean;
}

const DEFAULT_TRIALS_PER_RUN = 100;

export interface TrialSummary extends TrialMetrics {
  score: number;
}

export interface MultiTrialSearchResult {
  best: TrialSummary;
  trials: number;
  summaryKey: string;
}

export interface SearchProgress {
  trialsDone: number;
  trialsRunning: number;
  best?: { trial: number; score: number; validationAccuracy: number; latencyMs?: number };
}

export const searchProgressQuery = defineQuery<SearchProgress>('searchProgress');

/**
 * Accuracy traded against latency relative to a reference, as a penalty: lambda * LAT / LAT_ref,
 * or lambda * |LAT / LAT_ref - 1| when the reference is a target to hit.
 */
export function trialScore(m: TrialMetrics, latency: MultiTrialSearchInput['latency']): number {
  if (!latency || m.latencyMs === undefined) return m.validationAccuracy;
  // The one-shot search's rule; linear keeps weight * (LAT / ref), the arithmetic of runs already in flight.
  const penalty =
    latency.penalty === 'absolute' ? latencyPenalty(m.latencyMs, latency.weight, { ms: latency.referenceMs }) : latencyPenalty(m.latencyMs / latency.referenceMs, latency.weight);
  return m.validationAccuracy - penalty.value;
}

export async function multiTrialSearchWorkflow(input: MultiTrialSearchInput): Promise<MultiTrialSearchResult> {
  const strategy = WORKFLOW_STRATEGIES[input.strategy.plugin];
  if (!strategy) {
    throw ApplicationFailure.nonRetryable(
      `strategy "${input.strategy.plugin}" cannot run inside workflows; built in: ${Object.keys(WORKFLOW_STRATEGIES).join(', ')}`,
      'PluginLoadError',
    );
  }
  const activityOptions: ActivityOptions = {
    startToCloseTimeout: '6h',
    // Trials heartbeat every step; two silent minutes means the worker is gone.
    heartbeatTimeout: '2m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: ['PluginLoadError', 'DatasetNotFoundError', 'DatasetFormatError'] },
  };
  const { trainTrial } = proxyActivities<typeof activities>({ ...activityOptions, taskQueue: trialQueueOf(workflowInfo().taskQueue) });
  const { writeJson } = proxyActivities<typeof activities>(activityOptions);

  const ctx = { config: strategy.configSchema.parse(input.strategy.config), space: spaceShape(input.space) };
  const carried = input.carried;
  let state = carried ? carried.state : strategy.init(ctx);
  const summaries: TrialSummary[] = carried ? [...carried.summaries] : [];
  const running = new Map<number, Promise<void>>();
  let call = carried?.call ?? 0;
  let exhausted = carried?.exhausted ?? false;
  const doneBefore = summaries.length;
  const trialsPerRun = input.trialsPerRun ?? DEFAULT_TRIALS_PER_RUN;
  // Time to hand over: no new trial starts, the running ones finish, then the next run takes over.
  const handOver = () => !exhausted && (summaries.length - doneBefore >= trialsPerRun || workflowInfo().continueAsNewSuggested);
  setHandler(searchProgressQuery, () => {
    const best = summaries.reduce<TrialSummary | undefined>((b, t) => (!b || t.score > b.score ? t : b), undefined);
    return {
      trialsDone: summaries.length,
      trialsRunning: running.size,
      best: best && { trial: best.trial, score: best.score, validationAccuracy: best.validationAccuracy, latencyMs: best.latencyMs },
    };
  });

  const startTrial = (trial: number, choices: number[]): Promise<void> => {
    const trialInput: TrainTrialInput = {
      runId: input.runId,
      artifactLocation: input.artifactLocation,
      seed: input.seed,
      dataset: input.dataset,
      space: input.space,
      trial,
      choices,
      epochs: input.epochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      target: input.latency?.target,
      pluginFiles: input.pluginFiles,
      checkpointEverySteps: input.checkpointEverySteps,
    };
    return trainTrial(trialInput).then((metrics) => {
      const score = trialScore(metrics, input.latency);
      summaries.push({ ...metrics, score });
      const result: TrialResult = { trial, choices, score };
      state = strategy.observe(state, result, ctx);
      running.delete(trial);
    });
  };

  for (;;) {
    while (!exhausted && !handOver() && running.size < input.parallelTrials) {
      // A fresh generator per call, from (seed, call number): nothing random lives in the state.
      const proposal = strategy.propose(state, seededRng(input.seed, call++), ctx);
      state = proposal.state;
      exhausted = proposal.done;
      if (!proposal.candidate) break;
      running.set(proposal.candidate.trial, startTrial(proposal.candidate.trial, proposal.candidate.choices));
    }
    if (running.size === 0) {
      if (exhausted) break;
      if (handOver()) {
        const next: CarriedSearch = { state, summaries, call, exhausted };
        return continueAsNew<typeof multiTrialSearchWorkflow>({ ...input, carried: next });
      }
      throw ApplicationFailure.nonRetryable(`strategy "${strategy.name}" proposed nothing while no trial was running`);
    }
    await Promise.race(running.values());
  }

  const bestResult = strategy.best(state);
  const best = summaries.find((s) => s.trial === bestResult?.trial);
  if (!best) throw ApplicationFailure.nonRetryable(`strategy "${strategy.name}" finished without a best trial`);
  summaries.sort((a, b) => a.trial - b.trial);
  const summaryKey = await writeJson({
    artifactLocation: input.artifactLocation,
    key: `runs/${input.runId}/search/summary.json`,
    value: { strategy: input.strategy, best, trials: summaries },
  });
  return { best, trials: summaries.length, summaryKey };
}
