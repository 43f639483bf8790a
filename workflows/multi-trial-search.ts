/**
 * Multi-trial baseline search: the strategy's decision code (random search, regularized evolution)
 * runs here, in workflow code, and every candidate is trained as its own trial activity on whatever
 * workers exist. Strategy state and trial results are small; architectures and weights stay in the
 * artifact store.
 */
import { ApplicationFailure, continueAsNew, defineQuery, patched, proxyActivities, setHandler, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { TrainTrialInput } from '../activities/train-trial';
import type { MultiTrialSearchSummary, SearchTrial } from '../core/artifact-files';
import type { StageDataRef } from '../core/stage-settings';
import { spaceShape, type SearchSpace } from '../core/space';
import type { Candidate } from '../core/strategy-contract';
import { runInTrialOrder, StrategyDriver } from './strategy-driver';
import { workflowStrategy, workflowStrategyNames } from './strategy-registry';
import { trialQueueOf } from './task-queues';
import { budgetUse, type BudgetUse } from './trial-budgets';
import { retryPolicy } from './policies';
import { trialScore } from '../core/objectives';
import { runLayout } from '../core/run-layout';
import type { RunContext, TargetRef } from '../core/refs';

export interface MultiTrialSearchInput extends RunContext {
  seed: number;
  dataset: StageDataRef;
  space: SearchSpace;
  strategy: { plugin: string; config: unknown };
  epochs: number;
  batchSize: number;
  learningRate: number;
  parallelTrials: number;
  /** Steps between a trial's checkpoints; absent: none, a retried trial starts over. */
  checkpointEverySteps?: number;
  /** How long a trial's silent worker is trusted before the trial is retried elsewhere; absent (runs started before it was set): 120 s. */
  heartbeatTimeoutSeconds?: number;
  /**
   * The target whose latency enters the score, with lambda and the reference latency; penalty
   * 'absolute' aims at the reference (lambda * |LAT / ref - 1|), absent or 'linear' prices it.
   */
  latency?: { target: TargetRef; weight: number; referenceMs: number; penalty?: 'linear' | 'absolute' };
  pluginFiles: string[];
  /**
   * Trials one workflow run completes before it continues as new, so a long search keeps its
   * history bounded (Temporal also asks for it when the history grows large). Default 100.
   */
  trialsPerRun?: number;
  /** What an earlier run of this search hands on when it continues as new. */
  carried?: CarriedSearch;
  /**
   * The run's main task queue, where this search's activities go, when the search itself runs on a
   * strategy set's own queue (a user strategy: infra/workflow-bundle.ts); absent: its own queue.
   */
  activityQueue?: string;
}

/** The whole search state between two runs: small (one summary per trial, the strategy's state). */
export interface CarriedSearch {
  state: unknown;
  summaries: TrialSummary[];
  call: number;
  exhausted: boolean;
  /** Trials proposed and trained but not yet observed, in proposal order (absent before hand-overs kept them). */
  inFlight?: Candidate[];
}

const DEFAULT_TRIALS_PER_RUN = 100;

/** A scored trial: carried between runs, and a row of `runs/<run>/search/summary.json` (core/artifact-files.ts). */
export type TrialSummary = SearchTrial;

export interface MultiTrialSearchResult {
  best: TrialSummary;
  trials: number;
  summaryKey: string;
  /** A multi-fidelity search's trials per budget and the training it saved. */
  budgets?: BudgetUse;
}

export interface SearchProgress {
  trialsDone: number;
  trialsRunning: number;
  best?: { trial: number; score: number; validationAccuracy: number; latencyMs?: number };
}

export const searchProgressQuery = defineQuery<SearchProgress>('searchProgress');

export async function multiTrialSearchWorkflow(input: MultiTrialSearchInput): Promise<MultiTrialSearchResult> {
  const strategy = workflowStrategy(input.strategy.plugin);
  if (!strategy) {
    throw ApplicationFailure.nonRetryable(
      `strategy "${input.strategy.plugin}" is not in this worker's workflow code (it has ${workflowStrategyNames().join(', ')}); a worker serving it runs \`nas worker --plugins FILE\``,
      'PluginLoadError',
    );
  }
  const activityOptions: ActivityOptions = {
    startToCloseTimeout: '6h',
    // Trials heartbeat every step; this long silent means the worker is gone.
    heartbeatTimeout: input.heartbeatTimeoutSeconds ? `${input.heartbeatTimeoutSeconds}s` : '2m',
    retry: retryPolicy('short'),
  };
  const mainQueue = input.activityQueue ?? workflowInfo().taskQueue;
  const { trainTrial } = proxyActivities<typeof activities>({ ...activityOptions, taskQueue: trialQueueOf(mainQueue) });
  const { writeJson } = proxyActivities<typeof activities>({ ...activityOptions, ...(input.activityQueue ? { taskQueue: input.activityQueue } : {}) });

  const summaries: TrialSummary[] = input.carried ? [...input.carried.summaries] : [];
  const driver = new StrategyDriver(
    strategy,
    input.strategy.config,
    spaceShape(input.space),
    input.epochs,
    input.seed,
    input.carried && { ...input.carried, trialsUsed: [...input.carried.summaries, ...(input.carried.inFlight ?? [])].map((t) => t.trial) },
  );
  const training = new Set<number>();
  const doneBefore = summaries.length;
  const trialsPerRun = input.trialsPerRun ?? DEFAULT_TRIALS_PER_RUN;
  setHandler(searchProgressQuery, () => {
    const best = summaries.reduce<TrialSummary | undefined>((b, t) => (!b || t.score > b.score ? t : b), undefined);
    return {
      trialsDone: summaries.length,
      trialsRunning: training.size,
      best: best && { trial: best.trial, score: best.score, validationAccuracy: best.validationAccuracy, latencyMs: best.latencyMs },
    };
  });

  const train = ({ trial, choices, epochs: budget }: Candidate): Promise<TrialSummary> => {
    const trialInput: TrainTrialInput = {
      runId: input.runId,
      artifactLocation: input.artifactLocation,
      seed: input.seed,
      dataset: input.dataset,
      space: input.space,
      trial,
      choices,
      epochs: budget ?? input.epochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      target: input.latency?.target,
      pluginFiles: input.pluginFiles,
      checkpointEverySteps: input.checkpointEverySteps,
    };
    training.add(trial);
    return trainTrial(trialInput).then((metrics) => {
      const score = trialScore(metrics, input.latency);
      const summary: TrialSummary = budget === undefined ? { ...metrics, score } : { ...metrics, score, epochs: budget };
      summaries.push(summary);
      training.delete(trial);
      return summary;
    });
  };
  /** Time to hand over: no new trial starts, the proposed ones finish, then the next run takes over. */
  const handOver = (trialsThisRun: number) => !driver.exhausted && (trialsThisRun >= trialsPerRun || workflowInfo().continueAsNewSuggested);
  const handingOver = (inFlight: Candidate[] = []) => {
    // The next run trains the ones in flight again (their stored results come back) and records them then.
    const handed = new Set(inFlight.map((c) => c.trial));
    const carried: CarriedSearch = { ...driver.position(), summaries: summaries.filter((s) => !handed.has(s.trial)), ...(inFlight.length ? { inFlight } : {}) };
    return continueAsNew<typeof multiTrialSearchWorkflow>({ ...input, carried });
  };

  // Runs started before observe-in-trial-order replay only on the branch they ran (see there).
  if (patched('observe-in-trial-order')) {
    const end = await runInTrialOrder(driver, input.parallelTrials, (c) => train(c).then((s) => s.score), handOver, input.carried?.inFlight);
    if (end.ended === 'stopped') return handingOver(end.inFlight);
  } else {
    // Each result observed as it came, so the order in which trials finished, which timing decides,
    // steered the proposals after them.
    const settling = new Map<number, Promise<void>>();
    for (;;) {
      while (!driver.exhausted && !handOver(summaries.length - doneBefore) && settling.size < input.parallelTrials) {
        const candidate = driver.propose();
        if (!candidate) break;
        settling.set(
          candidate.trial,
          train(candidate).then((summary) => {
            driver.observe(candidate, summary.score);
            settling.delete(candidate.trial);
          }),
        );
      }
      if (settling.size === 0) {
        if (driver.exhausted) break;
        if (handOver(summaries.length - doneBefore)) return handingOver();
        return driver.nothingRunning();
      }
      await Promise.race(settling.values());
    }
  }

  const bestResult = driver.best();
  const best = summaries.find((s) => s.trial === bestResult?.trial);
  if (!best) throw ApplicationFailure.nonRetryable(`strategy "${strategy.name}" finished without a best trial`);
  summaries.sort((a, b) => a.trial - b.trial);
  const budgets = budgetUse(summaries, input.epochs);
  const summaryKey = await writeJson({
    artifactLocation: input.artifactLocation,
    key: runLayout(input.runId).search.summary,
    value: { strategy: input.strategy, best, trials: summaries, ...(budgets ? { budgets } : {}) } satisfies MultiTrialSearchSummary,
  });
  return { best, trials: summaries.length, summaryKey, ...(budgets ? { budgets } : {}) };
}
