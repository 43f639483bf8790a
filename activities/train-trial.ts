/**
 * One trial of a multi-trial search: build the candidate the strategy proposed, train it briefly on
 * the training split, score it on the held-out validation split (the test split stays unseen), and
 * measure its latency on the search's hardware target. The result is stored under the trial's own
 * key, so a retried or replayed trial returns the stored result instead of a second, different one.
 */
import { Context } from '@temporalio/activity';
import { getJson, putJson } from '../artifacts';
import { archFromChoices } from '../engine/arch/from-choices';
import { encodeBlock } from '../engine/arch/block-string';
import { countMacs } from '../engine/macs';
import { buildArchModel, toInferenceModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';
import { ClassifierTrainer } from '../engine/train/classifier-trainer';
import type { DatasetConfig } from '../dsl/dataset';
import type { SearchSpace } from '../dsl/search-space';
import { datasetFor, storeFor } from './context';
import { measureModelOnTarget, type TrialTarget } from './model-latency';

export type { TrialTarget };

export interface TrainTrialInput {
  runId: string;
  artifactLocation: string;
  seed: number;
  dataset: DatasetConfig;
  space: SearchSpace;
  trial: number;
  choices: number[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  target?: TrialTarget;
  pluginFiles: string[];
}

export interface TrialMetrics {
  trial: number;
  choices: number[];
  /** Compact per-block strings, e.g. `e6_k5_s2_c40_se0.25`, for logs and tables. */
  blocks: string[];
  validationAccuracy: number;
  params: number;
  macs: number;
  latencyMs?: number;
  trainSeconds: number;
  archKey: string;
}

export function trialKey(runId: string, trial: number): string {
  return `runs/${runId}/search/trials/trial-${String(trial).padStart(5, '0')}.json`;
}

export async function trainTrial(input: TrainTrialInput): Promise<TrialMetrics> {
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  const key = trialKey(input.runId, input.trial);
  if (await store.head(key)) return getJson<TrialMetrics>(store, key);

  const data = datasetFor(input.dataset, input.seed);
  const arch = {
    ...archFromChoices(input.space, input.choices, {
      resolution: data.height,
      inputChannels: data.channels,
      numClasses: data.numClasses,
      name: `trial-${input.trial}`,
    }),
    // Trials train for a few hundred steps: BatchNorm's usual 0.99 would leave its moving
    // statistics near their initial values and every trial would evaluate near chance.
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
  };
  const archKey = `runs/${input.runId}/search/trials/trial-${String(input.trial).padStart(5, '0')}.arch.json`;
  await putJson(store, archKey, arch);

  // Each trial gets its own stream of initialisation and data order, derived from the run's seed.
  const trialSeed = input.seed * 1_000_003 + input.trial;
  const model = buildArchModel(arch, { seed: trialSeed });
  const trainer = new ClassifierTrainer(model, data, {
    epochs: input.epochs,
    batchSize: input.batchSize,
    learningRate: input.learningRate,
    optimizer: 'momentum',
    momentum: 0.9,
    seed: trialSeed,
    schedule: 'cosine',
    validationFraction: input.dataset.validationFraction,
  });
  const started = Date.now();
  await trainer.train({
    // Trials are short; a lost trial is retrained, so no checkpoints are kept for them.
    checkpointEverySteps: Number.MAX_SAFE_INTEGER,
    onCheckpoint: async () => undefined,
    onStep: (r) => ctx.heartbeat({ trial: input.trial, step: r.position.globalStep, totalSteps: r.totalSteps }),
    shouldStop: () => ctx.cancellationSignal.aborted,
  });
  if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
  const validation = trainer.evaluate('validation');

  const inference = toInferenceModel(arch, model);
  let latencyMs: number | undefined;
  if (input.target) latencyMs = await measureModelOnTarget(inference, [data.height, data.width, data.channels], input.target, input.pluginFiles);

  const metrics: TrialMetrics = {
    trial: input.trial,
    choices: input.choices,
    blocks: arch.blocks.map(encodeBlock),
    validationAccuracy: validation.accuracy,
    params: countParams(inference).total,
    macs: countMacs(inference),
    latencyMs,
    trainSeconds: (Date.now() - started) / 1000,
    archKey,
  };
  await putJson(store, key, metrics);
  inference.dispose();
  model.dispose();
  return metrics;
}
