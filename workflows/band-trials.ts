/**
 * Band trials: a multi-trial search inside the latency band a one-shot search chose. The supernet
 * finds the band (how fast a net the latency weight buys) but, on small spaces, ranks the nets of
 * one band little better than chance; a short standalone training ranks them better
 * (benchmarks/README.md). So the derived net and nets drawn from its band, never slower than it by
 * the table, each train alone as trial activities, and the best validation accuracy is the search
 * result. Runs inside the one-shot search workflow; every number it holds is small.
 */
import { ApplicationFailure, proxyActivities, workflowInfo, type RetryPolicy } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { BandCandidate } from '../activities/band-candidates';
import type { TrainTrialInput, TrialMetrics } from '../activities/train-trial';
import { searchResolution } from '../dsl/search-space';
import type { SearchProgress } from './multi-trial-search';
import { forEachInPool } from './pool';
import { trialQueueOf } from './task-queues';

export interface BandTrialsConfig {
  /** Nets drawn besides the derived one. */
  trials: number;
  epochs: number;
  /** A candidate is at most this fraction faster than the derived net, and never slower. */
  band: number;
  parallelTrials: number;
}

export interface BandTrialsInput {
  /** What every trial shares: run, data, space, training settings. */
  trialSettings: Omit<TrainTrialInput, 'trial' | 'choices' | 'epochs' | 'target'>;
  latencyTableKey: string;
  /** The derived net's choices. */
  derived: number[];
  config: BandTrialsConfig;
}

export interface BandTrial extends TrialMetrics {
  tableMs: number;
}

/** `runs/<run>/search/band-trials.json`, what `nas report` reads back. */
export interface BandTrialsSummary {
  config: BandTrialsConfig;
  draws: number;
  referenceMs: number;
  /** Trial number of the pick, the search's result. */
  pick: number;
  /** In trial order; trial 0 is the derived net. */
  trials: BandTrial[];
}

export interface BandTrialsResult {
  /** Trial 0 is the derived net; the others were drawn from its band. */
  trials: number;
  derived: BandTrial;
  pick: BandTrial;
  /** Nets drawn to find the candidates, accepted or not. */
  draws: number;
  summaryKey: string;
}

/** Runs the band trials; `progress` is what the search's query reports meanwhile. */
export async function runBandTrials(input: BandTrialsInput, progress: (p: SearchProgress) => void): Promise<BandTrialsResult> {
  const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: ['PluginLoadError', 'DatasetNotFoundError', 'DatasetFormatError', 'MissingOpsError'] };
  const { drawBandCandidates, writeJson } = proxyActivities<typeof activities>({ startToCloseTimeout: '10m', retry });
  // Trials heartbeat every step; two silent minutes means the worker is gone.
  const { trainTrial } = proxyActivities<typeof activities>({ startToCloseTimeout: '6h', heartbeatTimeout: '2m', retry, taskQueue: trialQueueOf(workflowInfo().taskQueue) });

  const { trialSettings: settings } = input;
  const drawn = await drawBandCandidates({
    artifactLocation: settings.artifactLocation,
    latencyTableKey: input.latencyTableKey,
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
  await forEachInPool(candidates, input.config.parallelTrials, (_, trial) => train(trial));

  done.sort((a, b) => a.trial - b.trial);
  const pick = bestOf(done);
  if (!pick) throw ApplicationFailure.nonRetryable('band trials finished without a trial');
  const summaryKey = await writeJson({
    artifactLocation: settings.artifactLocation,
    key: `runs/${settings.runId}/search/band-trials.json`,
    value: { config: input.config, draws: drawn.draws, referenceMs: drawn.reference.tableMs, pick: pick.trial, trials: done } satisfies BandTrialsSummary,
  });
  return { trials: done.length, derived: done[0], pick, draws: drawn.draws, summaryKey };
}

/** The best validation accuracy; a tie goes to the earlier trial, so to the derived net first. */
function bestOf(trials: readonly BandTrial[]): BandTrial | undefined {
  return trials.reduce<BandTrial | undefined>((b, t) => (!b || t.validationAccuracy > b.validationAccuracy || (t.validationAccuracy === b.validationAccuracy && t.trial < b.trial) ? t : b), undefined);
}
