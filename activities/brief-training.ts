/**
 * The short training every trial shares (search trials, scaling grid points): build the candidate,
 * train it for a few epochs, score it on the held-out validation split (the test split stays
 * unseen), count params and MACs of the inference network and, with a target, measure its latency.
 */
import { Context } from '@temporalio/activity';
import { encodeBlock } from '../engine/arch/block-string';
import type { ArchSpec } from '../engine/arch/spec';
import type { ImageDataset } from '../engine/data/dataset';
import { countMacs } from '../engine/macs';
import { buildArchModel, toInferenceModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';
import { ClassifierTrainer } from '../engine/train/classifier-trainer';
import { measureModelOnTarget, type TrialTarget } from './model-latency';

/**
 * Trials train for a few hundred steps: BatchNorm's usual 0.99 would leave its moving statistics
 * near their initial values and every trial would evaluate near chance.
 */
export const SHORT_RUN_BATCH_NORM = { momentum: 0.9, epsilon: 1e-3 };

export interface BriefTrainingOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  validationFraction: number;
  target?: TrialTarget;
  pluginFiles: string[];
  /** What each step's heartbeat says, besides the step counts. */
  label: Record<string, unknown>;
}

export interface BriefTrainingResult {
  /** Compact per-entry strings, e.g. `e6_k5_s2_c40_se0.25`, for logs and tables. */
  blocks: string[];
  validationAccuracy: number;
  params: number;
  macs: number;
  latencyMs?: number;
  trainSeconds: number;
}

export async function trainBriefly(arch: ArchSpec, data: ImageDataset, o: BriefTrainingOptions): Promise<BriefTrainingResult> {
  const ctx = Context.current();
  const model = buildArchModel(arch, { seed: o.seed });
  // The trainer resizes every batch to the model's input side, so resolution scaling needs no more.
  const trainer = new ClassifierTrainer(model, data, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    learningRate: o.learningRate,
    optimizer: 'momentum',
    momentum: 0.9,
    seed: o.seed,
    schedule: 'cosine',
    validationFraction: o.validationFraction,
  });
  const started = Date.now();
  try {
    await trainer.train({
      // Trials are short; a lost trial is retrained, so no checkpoints are kept for them.
      checkpointEverySteps: Number.MAX_SAFE_INTEGER,
      onCheckpoint: async () => undefined,
      onStep: (r) => ctx.heartbeat({ ...o.label, step: r.position.globalStep, totalSteps: r.totalSteps }),
      shouldStop: () => ctx.cancellationSignal.aborted,
    });
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    const validation = trainer.evaluate('validation');
    // Copies the trained weights into a network of built-in layers only: what gets measured and shipped.
    const inference = toInferenceModel(arch, model);
    try {
      const inputShape = [arch.resolution, arch.resolution, arch.inputChannels];
      return {
        blocks: arch.blocks.map(encodeBlock),
        validationAccuracy: validation.accuracy,
        params: countParams(inference).total,
        macs: countMacs(inference),
        latencyMs: o.target ? await measureModelOnTarget(inference, inputShape, o.target, o.pluginFiles) : undefined,
        trainSeconds: (Date.now() - started) / 1000,
      };
    } finally {
      inference.dispose();
    }
  } finally {
    model.dispose();
  }
}
