/**
 * The fixed-model training stage: one long activity that checkpoints and resumes, then the trained
 * model measured on every hardware target the pipeline declares. Retry policies sit here, next to
 * the calls, so the failure model is visible where it applies.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { MeasureLatencyResult } from '../activities/measure-latency';
import type { TrainClassifierInput, TrainClassifierResult } from '../activities/train-classifier';
import { retryPolicy } from './policies';
import { runLayout } from '../core/run-layout';
import type { TargetRef } from '../core/refs';

export interface TrainStageInput extends TrainClassifierInput {
  targets: TargetRef[];
  /** Absolute paths of the user plugin modules the pipeline declared; workers load only these. */
  pluginFiles: string[];
}

export interface TrainStageResult extends TrainClassifierResult {
  latency: MeasureLatencyResult[];
}

export async function trainStageWorkflow(input: TrainStageInput): Promise<TrainStageResult> {
  const { trainClassifier } = proxyActivities<typeof activities>({
    // Generous: the heartbeat, not this, is what detects a dead worker.
    startToCloseTimeout: '12h',
    heartbeatTimeout: `${input.train.heartbeatTimeoutSeconds}s`,
    retry: retryPolicy('checkpointed'),
  });
  const { measureLatency } = proxyActivities<typeof activities>({
    startToCloseTimeout: '30m',
    heartbeatTimeout: '2m',
    retry: retryPolicy('short'),
  });

  const { targets, pluginFiles, ...trainInput } = input;
  const trained = await trainClassifier(trainInput);
  // One target at a time: measurements that share a CPU would disturb each other's timings.
  const latency: MeasureLatencyResult[] = [];
  for (const target of targets) {
    latency.push(
      await measureLatency({
        artifactLocation: input.artifactLocation,
        modelJsonKey: trained.modelKey,
        modelWeightsKey: trained.modelWeightsKey,
        resultKey: runLayout(input.runId).training(input.stage).latency(target.id),
        targetId: target.id,
        plugin: target.plugin,
        config: target.config,
        pluginFiles,
        inputShape: trained.inputShape,
      }),
    );
  }
  return { ...trained, latency };
}
