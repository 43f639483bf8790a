/**
 * The short training every trial shares (search trials, scaling grid points): build the candidate,
 * train it for a few epochs, score it on the held-out validation split (the test split stays
 * unseen), count params and MACs of the inference network and, with a target, measure its latency.
 * With a checkpoint prefix, a retried trial resumes from its newest checkpoint rather than from
 * scratch, and reaches the same result (the trainer's resume is exact).
 */
import { Context, log } from '@temporalio/activity';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import { encodeBlock } from '../engine/arch/block-string';
import type { ArchSpec } from '../engine/arch/spec';
import type { ImageDataset } from '../engine/data/dataset';
import { countMacs } from '../engine/latency/macs';
import { buildArchModel, toInferenceModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';
import { ClassifierTrainer } from '../engine/train/classifier-trainer';
import { divergenceFailure } from './failures';
import { checkpointKey } from '../core/run-layout';
import { pruneCheckpoints, removeCheckpoints, restoreNewestCheckpoint } from './checkpoints';
import { measureModelOnTarget } from './model-latency';
import type { TargetRef } from '../core/refs';
import type { BriefTrainingResult } from '../core/artifact-files';

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
  target?: TargetRef;
  pluginFiles: string[];
  /** What each step's heartbeat says, besides the step counts. */
  label: Record<string, unknown>;
  /** The trial as a failure names it, e.g. `search trial 3`; default: the label's entries. */
  where?: string;
  /** Where the trial keeps its checkpoints; without it a retried trial starts over. */
  checkpoints?: TrialCheckpoints;
}

export interface CheckpointFolder {
  /** A folder of this trial's own, ending in `/`. */
  prefix: string;
  everySteps: number;
}

export interface TrialCheckpoints extends CheckpointFolder {
  store: ArtifactStore;
  /** Where the trial's result is stored; once it exists, checkpoints lead nowhere. */
  resultKey: string;
}

/** Thrown by an attempt that finds its trial's result stored by another attempt: it has nothing left to do. */
export class TrialAlreadyStoredError extends Error {
  constructor(resultKey: string) {
    // Usually this attempt is one Temporal gave up on; if the attempt that stored the result was
    // that one, this is the live attempt, and its retry returns the stored result.
    super(`another attempt already stored ${resultKey}; this one stops and removes its checkpoints`);
    this.name = 'TrialAlreadyStoredError';
  }
}

/**
 * A trial's result, stored under `key` once: a retried or replayed trial returns the stored result
 * instead of training again. Its checkpoints (in `folder`, handed to `produce` with the result key)
 * go once the result is stored; the removal is repeated when the result is found, so a retry
 * finishes a cleanup that a kill cut short.
 */
export async function storedOnce<T>(store: ArtifactStore, key: string, folder: CheckpointFolder | undefined, produce: (checkpoints?: TrialCheckpoints) => Promise<T>): Promise<T> {
  const stored = await store.head(key);
  const result = stored ? await getJson<T>(store, key) : await produce(folder && { ...folder, store, resultKey: key });
  if (!stored) await putJson(store, key, result);
  if (folder) await removeCheckpoints(store, folder.prefix);
  return result;
}

/** What a brief training measured: the part of every trial file (core/artifact-files.ts) it fills. */
export type { BriefTrainingResult };

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
    const c = o.checkpoints;
    let lastCheckpoint: string | undefined;
    if (c) {
      lastCheckpoint = await restoreNewestCheckpoint(c.store, c.prefix, (bytes) => trainer.restore(bytes));
      if (lastCheckpoint) log.info(`trial ${JSON.stringify(o.label)} resumes from ${lastCheckpoint} (step ${trainer.position.globalStep})`);
    }
    const beat = (step: number) => ctx.heartbeat({ ...o.label, step, totalSteps: trainer.totalSteps, checkpointKey: lastCheckpoint });
    beat(trainer.position.globalStep);
    await trainer.train({
      checkpointEverySteps: c ? c.everySteps : Number.MAX_SAFE_INTEGER,
      onEagerStep: (why) => log.info(`trial ${JSON.stringify(o.label)}: the training step runs on the eager tape (${why}), not as one TensorFlow graph`),
      onCheckpoint: async (bytes, position) => {
        if (!c) return;
        const key = checkpointKey(c.prefix, position.globalStep);
        await c.store.put(key, bytes);
        // An attempt Temporal gave up on (its worker frozen past the heartbeat timeout) can wake
        // after its retry stored the result and removed the checkpoints; this one must not stay.
        // Looking after the put leaves no gap: a result stored later is followed by its own removal.
        if (await c.store.head(c.resultKey)) {
          await removeCheckpoints(c.store, c.prefix);
          throw new TrialAlreadyStoredError(c.resultKey);
        }
        lastCheckpoint = key;
        beat(position.globalStep);
        await pruneCheckpoints(c.store, c.prefix, key);
      },
      onStep: (r) => beat(r.position.globalStep),
      shouldStop: () => ctx.cancellationSignal.aborted,
    });
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    const fitSeconds = (Date.now() - started) / 1000;
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
        fitSeconds,
      };
    } finally {
      inference.dispose();
    }
  } catch (err) {
    // A diverged trial diverges again on every retry (the same seed, the same batches).
    throw divergenceFailure(err, o.where ?? (Object.entries(o.label).map(([k, v]) => `${k} ${String(v)}`).join(', ') || 'trial'));
  } finally {
    model.dispose();
  }
}
