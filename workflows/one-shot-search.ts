/**
 * One-shot baseline search (ProxylessNAS): one supernet trained epoch by epoch, each epoch an
 * activity that checkpoints and resumes. The workflow holds only per-epoch numbers; the supernet,
 * its architecture parameters and the derived architecture live in the artifact store.
 */
import { ApplicationFailure, defineQuery, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { LatencyCalibrationSummary } from '../activities/latency-model';
import type { SupernetEpochInput, SupernetEpochMetrics } from '../activities/supernet-epoch';
import type { StageDataRef } from '../core/stage-settings';
import type { SearchSpace } from '../core/space';
import { runBandTrials, type BandTrialsConfig, type BandTrialsResult } from './band-trials';
import type { SearchProgress } from './multi-trial-search';
import { retryPolicy } from './policies';
import { runLayout } from '../core/run-layout';
import type { RunContext } from '../core/refs';

export interface OneShotSearchInput extends RunContext {
  seed: number;
  dataset: StageDataRef;
  space: SearchSpace;
  strategy: { plugin: string; config: Record<string, unknown> };
  epochs: number;
  warmupEpochs: number;
  batchSize: number;
  learningRate: number;
  latencyWeight: number;
  /** With it, the latency term is latencyWeight * |LAT / latencyTargetMs - 1| (TuNAS's absolute reward). */
  latencyTargetMs?: number;
  /** The hardware target whose per-op latency table enters the loss, when latency plays a part. */
  target?: { id: string; plugin: string; config: unknown };
  pluginFiles: string[];
  checkpointEverySteps: number;
  heartbeatTimeoutSeconds: number;
  /**
   * Nets of the space timed whole to calibrate the table's predictor on a timed target
   * (activities/latency-model.ts); 0 prices by the plain table sum. Absent: the default (40).
   */
  calibrationNets?: number;
  /** After the supernet: train the derived net and nets of its latency band alone, and keep the best (workflows/band-trials.ts). */
  bandTrials?: BandTrialsConfig;
}

export interface OneShotSearchResult {
  epochs: SupernetEpochMetrics[];
  latencyTableKey?: string;
  /** The table's calibration on its target, where one was measured (timed targets): its key and check numbers. */
  latencyCalibration?: LatencyCalibrationSummary;
  /** The supernet's derived architecture (the argmax, or with a latency target the most likely net within it). */
  derivedArchKey: string;
  blocks: string[];
  validationAccuracy: number;
  expectedLatencyMs?: number;
  /** With band trials: the trials' pick, which is the search's result (`resultArchKey`). */
  band?: BandTrialsResult;
}

/** The architecture the search hands on: the band trials' pick where they ran, else the derived net. */
export function resultArchKey(r: OneShotSearchResult): string {
  return r.band ? r.band.pick.archKey : r.derivedArchKey;
}

export interface OneShotProgress {
  epochsDone: number;
  epochs: number;
  last?: SupernetEpochMetrics;
  /** Present once the band trials have started. */
  band?: SearchProgress;
}

export const oneShotProgressQuery = defineQuery<OneShotProgress>('oneShotProgress');

export async function oneShotSearchWorkflow(input: OneShotSearchInput): Promise<OneShotSearchResult> {
  const { supernetEpoch } = proxyActivities<typeof activities>({
    startToCloseTimeout: '12h',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds}s`,
    retry: retryPolicy('checkpointed'),
  });
  const { buildLatencyTable, calibrateLatencyModel } = proxyActivities<typeof activities>({
    startToCloseTimeout: '6h',
    heartbeatTimeout: '5m',
    retry: retryPolicy('short'),
  });
  // What both the table and its calibration are measured for: this space, on this target.
  const measuring = input.target && {
    artifactLocation: input.artifactLocation,
    runId: input.runId,
    space: input.space,
    dataset: input.dataset,
    seed: input.seed,
    targetId: input.target.id,
    plugin: input.target.plugin,
    config: input.target.config,
    pluginFiles: input.pluginFiles,
  };
  // The table is measured once per (space, target, config) and shared by every run that needs it.
  const latencyTableKey = measuring && input.latencyWeight > 0 ? await buildLatencyTable(measuring) : undefined;
  // Runs started before calibration existed replay without it.
  const calibration =
    latencyTableKey && measuring && patched('latency-calibration') ? await calibrateLatencyModel({ ...measuring, tableKey: latencyTableKey, nets: input.calibrationNets }) : undefined;
  const latencyCalibrationKey = calibration?.key;
  const epochs: SupernetEpochMetrics[] = [];
  let band: SearchProgress | undefined;
  setHandler(oneShotProgressQuery, () => ({ epochsDone: epochs.length, epochs: input.epochs, last: epochs[epochs.length - 1], band }));
  for (let epoch = 0; epoch < input.epochs; epoch++) {
    const epochInput: SupernetEpochInput = {
      runId: input.runId,
      artifactLocation: input.artifactLocation,
      seed: input.seed,
      dataset: input.dataset,
      space: input.space,
      strategy: input.strategy.plugin,
      pluginFiles: input.pluginFiles,
      epoch,
      epochs: input.epochs,
      warmupEpochs: input.warmupEpochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      strategyConfig: input.strategy.config,
      latencyTableKey,
      ...(latencyCalibrationKey ? { latencyCalibrationKey } : {}),
      latencyWeight: input.latencyWeight,
      latencyTargetMs: input.latencyTargetMs,
      checkpointEverySteps: input.checkpointEverySteps,
    };
    epochs.push(await supernetEpoch(epochInput));
  }
  const last = epochs[epochs.length - 1];
  let bandResult: BandTrialsResult | undefined;
  if (input.bandTrials) {
    if (!latencyTableKey) throw ApplicationFailure.nonRetryable('band trials draw nets by the latency table: the search needs a hardware target and a latency weight above 0', 'PipelineValidationError');
    const { runId, artifactLocation, seed, dataset, space, batchSize, learningRate, pluginFiles, checkpointEverySteps } = input;
    bandResult = await runBandTrials(
      {
        trialSettings: { runId, artifactLocation, seed, dataset, space, batchSize, learningRate, pluginFiles, checkpointEverySteps },
        latencyTableKey,
        latencyCalibrationKey,
        derived: last.choices,
        config: input.bandTrials,
      },
      (p) => (band = p),
    );
  }
  return {
    epochs,
    latencyTableKey,
    ...(calibration ? { latencyCalibration: calibration } : {}),
    derivedArchKey: runLayout(input.runId).search.derived,
    blocks: last.blocks,
    validationAccuracy: last.validationAccuracy,
    expectedLatencyMs: last.expectedLatencyMs,
    band: bandResult,
  };
}
