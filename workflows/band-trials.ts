/**
 * Band trials: a multi-trial search inside the latency band a one-shot search chose. The supernet
 * finds the band (how fast a net the latency weight buys) but, on small spaces, ranks the nets of
 * one band little better than chance; a short standalone training ranks them better
 * (benchmarks/README.md). So the derived net and nets drawn from its band, never slower than it by
 * the table, each train alone as trial activities, and the best validation accuracy is the search
 * result. Runs inside the one-shot search workflow; every number it holds is small.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { BandCandidate } from '../activities/band-candidates';
import type { TrainTrialInput } from '../activities/train-trial';
import type { BandTrial, BandTrialsSummary } from '../core/artifact-files';
import { searchResolution, spaceShape } from '../core/space';
import type { SearchProgress } from './multi-trial-search';
import { forEachInPool } from './pool';
import { runInTrialOrder, StrategyDriver } from './strategy-driver';
import { workflowStrategy } from './strategy-registry';
import { trialQueueOf } from './task-queues';
import { budgetUse, type BudgetUse } from './trial-budgets';
import { retryPolicy } from './policies';
import { runLayout } from '../core/run-layout';

export interface BandTrialsConfig {
  /** Nets drawn besides the derived one. */
  trials: number;
  epochs: number;
  /** A candidate is at most this fraction faster than the derived net, and never slower. */
  band: number;
  parallelTrials: number;
  /** Successive halving over the band nets: the best 1/eta train again eta times as long, up to maxEpochs. */
  halving?: { eta: number; maxEpochs: number };
}

export interface BandTrialsInput {
  /** What every trial shares: run, data, space, training settings. */
  trialSettings: Omit<TrainTrialInput, 'trial' | 'choices' | 'epochs' | 'target'>;
  latencyTableKey: string;
  /** The table's calibration, where the search calibrated it: the band is then drawn by calibrated latency. */
  latencyCalibrationKey?: string;
  /** The derived net's choices. */
  derived: number[];
  config: BandTrialsConfig;
}

/** A band trial, and `runs/<run>/search/band-trials.json` that `nas report` reads back: their schemas are core/artifact-files.ts's. */
export type { BandTrial, BandTrialsSummary };

export interface BandTrialsResult {
  /** Trial 0 is the derived net; the others were drawn from its band. */
  trials: number;
  derived: BandTrial;
  pick: BandTrial;
  /** Nets drawn to find the candidates, accepted or not. */
  draws: number;
  summaryKey: string;
  budgets?: BudgetUse;
}

/** Runs the band trials; `progress` is what the search's query reports meanwhile. */
export async function runBandTrials(input: BandTrialsInput, progress: (p: SearchProgress) => void): Promise<BandTrialsResult> {
  const retry = retryPolicy('short');
  const { drawBandCandidates, writeJson } = proxyActivities<typeof activities>({ startToCloseTimeout: '10m', retry });
  // Trials heartbeat every step; two silent minutes means the worker is gone.
  const { trainTrial } = proxyActivities<typeof activities>({ startToCloseTimeout: '6h', heartbeatTimeout: '2m', retry, taskQueue: trialQueueOf(workflowInfo().taskQueue) });

  const { trialSettings: settings } = input;
  const drawn = await drawBandCandidates({
    artifactLocation: settings.artifactLocation,
    latencyTableKey: input.latencyTableKey,
    ...(input.latencyCalibrationKey ? { latencyCalibrationKey: input.latencyCalibrationKey } : {}),
    space: settings.space,
    inputResolution: searchResolution(settings.space, settings.dataset),
    dataset: settings.dataset,
    reference: input.derived,
    count: input.config.trials,
    band: input.config.band,
    seed: settings.seed,
  });
  const candidates: BandCandidate[] = [drawn.reference, ...drawn.candidates];
  const done: BandTrial[] = [];
  let running = 0;
  const report = () => {
    const best = bestOf(done);
    progress({ trialsDone: done.length, trialsRunning: running, best: best && { trial: best.trial, score: best.validationAccuracy, validationAccuracy: best.validationAccuracy, latencyMs: best.tableMs } });
  };
  const train = async (trial: number): Promise<void> => {
    running++;
    report();
    const metrics = await trainTrial({ ...settings, trial, choices: candidates[trial].choices, epochs: input.config.epochs });
    running--;
    done.push({ ...metrics, tableMs: candidates[trial].tableMs });
    report();
  };
  let pick: BandTrial | undefined;
  const halving = input.config.halving;
  if (halving) {
    // The band nets are successive halving's first rung, in trial order: trial 0 is the derived net,
    // and a tie goes to the earlier trial, as below.
    const strategy = workflowStrategy('successive-halving');
    if (!strategy) throw ApplicationFailure.nonRetryable('band-trial halving needs the successive-halving strategy, which this workflow code lacks', 'PluginLoadError');
    const config = { architectures: candidates.map((c) => c.choices), eta: halving.eta, minEpochs: input.config.epochs, maxEpochs: halving.maxEpochs };
    const driver = new StrategyDriver(strategy, config, spaceShape(settings.space), halving.maxEpochs, settings.seed);
    const tableMs = new Map(candidates.map((c) => [c.choices.join(','), c.tableMs]));
    await runInTrialOrder(driver, input.config.parallelTrials, async ({ trial, choices, epochs = input.config.epochs }) => {
      running++;
      report();
      const metrics = await trainTrial({ ...settings, trial, choices, epochs });
      running--;
      done.push({ ...metrics, tableMs: tableMs.get(choices.join(',')) ?? Number.NaN, epochs });
      report();
      return metrics.validationAccuracy;
    });
    const best = driver.best();
    pick = done.find((t) => t.trial === best?.trial);
  } else {
    await forEachInPool(candidates, input.config.parallelTrials, (_, trial) => train(trial));
    pick = bestOf(done);
  }

  done.sort((a, b) => a.trial - b.trial);
  if (!pick) throw ApplicationFailure.nonRetryable('band trials finished without a trial');
  const budgets = halving ? budgetUse(done, input.config.epochs) : undefined;
  const summaryKey = await writeJson({
    artifactLocation: settings.artifactLocation,
    key: runLayout(settings.runId).search.bandTrials,
    value: {
      config: input.config,
      draws: drawn.draws,
      referenceMs: drawn.reference.tableMs,
      ...(drawn.random ? { random: drawn.random } : {}),
      pick: pick.trial,
      trials: done,
      ...(budgets ? { budgets } : {}),
    } satisfies BandTrialsSummary,
  });
  return { trials: done.length, derived: done[0], pick, draws: drawn.draws, summaryKey, ...(budgets ? { budgets } : {}) };
}

/** The best validation accuracy; a tie goes to the earlier trial, so to the derived net first. */
function bestOf(trials: readonly BandTrial[]): BandTrial | undefined {
  return trials.reduce<BandTrial | undefined>((b, t) => (!b || t.validationAccuracy > b.validationAccuracy || (t.validationAccuracy === b.validationAccuracy && t.trial < b.trial) ? t : b), undefined);
}
