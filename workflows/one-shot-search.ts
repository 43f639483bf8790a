/**
 * One-shot baseline search (ProxylessNAS): one supernet trained epoch by epoch, each epoch an
 * activity that checkpoints and resumes. The workflow holds only per-epoch numbers; the supernet,
 * its architecture parameters and the derived architecture live in the artifact store.
 */
import { ApplicationFailure, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { SupernetEpochInput, SupernetEpochMetrics } from '../activities/supernet-epoch';
import type { StageData } from '../dsl/dataset';
import type { SearchSpace } from '../dsl/search-space';

export const ONE_SHOT_STRATEGIES = ['proxyless-gradient', 'proxyless-reinforce'] as const;

export interface OneShotSearchInput {
  runId: string;
  artifactLocation: string;
  seed: number;
  dataset: StageData;
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
}

export interface OneShotSearchResult {
  epochs: SupernetEpochMetrics[];
  latencyTableKey?: string;
  derivedArchKey: string;
  blocks: string[];
  validationAccuracy: number;
  expectedLatencyMs?: number;
}

export const oneShotProgressQuery = defineQuery<{ epochsDone: number; epochs: number; last?: SupernetEpochMetrics }>('oneShotProgress');

export async function oneShotSearchWorkflow(input: OneShotSearchInput): Promise<OneShotSearchResult> {
  const mode = ONE_SHOT_STRATEGIES.find((s) => s === input.strategy.plugin);
  if (!mode) throw ApplicationFailure.nonRetryable(`"${input.strategy.plugin}" is not a one-shot strategy`, 'PluginLoadError');
  const { supernetEpoch } = proxyActivities<typeof activities>({
    startToCloseTimeout: '12h',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds}s`,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: 25,
      nonRetryableErrorTypes: ['PipelineValidationError', 'CheckpointMismatchError', 'SupernetCheckpointError', 'DatasetNotFoundError', 'DatasetFormatError'],
    },
  });
  const { buildLatencyTable } = proxyActivities<typeof activities>({
    startToCloseTimeout: '6h',
    heartbeatTimeout: '5m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: ['PluginLoadError', 'MissingOpsError', 'UnsupportedTargetConfigError'] },
  });
  // The table is measured once per (space, target, config) and shared by every run that needs it.
  const latencyTableKey =
    input.target && input.latencyWeight > 0
      ? await buildLatencyTable({
          artifactLocation: input.artifactLocation,
          runId: input.runId,
          space: input.space,
          inputResolution: input.dataset.resolution,
          targetId: input.target.id,
          plugin: input.target.plugin,
          config: input.target.config,
          pluginFiles: input.pluginFiles,
        })
      : undefined;
  const epochs: SupernetEpochMetrics[] = [];
  setHandler(oneShotProgressQuery, () => ({ epochsDone: epochs.length, epochs: input.epochs, last: epochs[epochs.length - 1] }));
  for (let epoch = 0; epoch < input.epochs; epoch++) {
    const epochInput: SupernetEpochInput = {
      runId: input.runId,
      artifactLocation: input.artifactLocation,
      seed: input.seed,
      dataset: input.dataset,
      space: input.space,
      mode,
      epoch,
      epochs: input.epochs,
      warmupEpochs: input.warmupEpochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      strategyConfig: input.strategy.config,
      latencyTableKey,
      latencyWeight: input.latencyWeight,
      latencyTargetMs: input.latencyTargetMs,
      checkpointEverySteps: input.checkpointEverySteps,
    };
    epochs.push(await supernetEpoch(epochInput));
  }
  const last = epochs[epochs.length - 1];
  return {
    epochs,
    latencyTableKey,
    derivedArchKey: `runs/${input.runId}/search/derived.arch.json`,
    blocks: last.blocks,
    validationAccuracy: last.validationAccuracy,
    expectedLatencyMs: last.expectedLatencyMs,
  };
}
