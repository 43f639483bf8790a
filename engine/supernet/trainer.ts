/**
 * One epoch of a ProxylessNAS search over a Supernet: weight steps on the training split in the
 * epoch's seeded order, and after the warm-up epochs an architecture step on the next validation
 * batch every `weightStepsPerArchStep` weight steps (the strategy's answer); then the argmax
 * architecture, its BatchNorm statistics re-estimated, scored on the validation split. What runs
 * it decides where checkpoints go and who hears of progress: the search activity stores and
 * heartbeats, the hardware experiment benchmark prints, and both search the same way.
 *
 * Every step is a function of (seed, step counter): an epoch resumed from a checkpoint at any step,
 * even one from an earlier epoch, trains each remaining step with its own epoch's order and rules.
 */
import { loadTf } from '../backend';
import type { BatchNormConfig } from '../blocks/context';
import { epochOrder, imageBatches, makeBatch, sequentialChunks } from '../data/batches';
import type { ImageDataset } from '../data/dataset';
import type { IndexSplit } from '../data/split';
import { learningRateAt, type ScheduleSpec } from '../train/schedule';
import type { DerivedArchitecture } from './derive';
import type { Supernet } from './supernet';

/** Validation examples scored at each epoch's end for the derived architecture. */
export const EPOCH_EVAL_EXAMPLES = 1000;
/** Training examples that re-estimate the derived architecture's BatchNorm statistics first (Once-for-All uses 2,000). */
export const CALIBRATION_EXAMPLES = 2000;

/**
 * Each path sees only the batches that sample it: BatchNorm's usual 0.99 would leave its moving
 * statistics near their start and the argmax network would evaluate near chance.
 */
export const SUPERNET_BATCH_NORM: BatchNormConfig = { momentum: 0.9, epsilon: 1e-3 };

/** Salt of the validation order architecture steps walk, unrelated to every training epoch's. */
const VALIDATION_ORDER_SALT = 0x7a1;

export interface SupernetTrainingSettings {
  /** Seeds the epoch orders (the supernet's own seed draws its gates). */
  seed: number;
  /** Epochs of the whole search: the cosine learning rate spans all of them. */
  epochs: number;
  /** Weight-only epochs before architecture steps start. */
  warmupEpochs: number;
  batchSize: number;
  /** Peak learning rate of the weights. */
  learningRate: number;
}

export interface WeightStepProgress {
  /** The epoch this step belongs to: an earlier one while steps lost with a checkpoint are trained again. */
  epoch: number;
  /** Weight steps done, this one included. */
  step: number;
  loss: number;
  images: number;
}

export interface EpochHooks {
  /** Stops after the current step; the closing checkpoint is still taken, then the epoch throws the signal's reason. */
  signal?: AbortSignal;
  /** After each weight step (and its architecture step, if any). */
  onStep?(progress: WeightStepProgress): void;
  /**
   * Called every `everySteps` weight steps counted from where the epoch resumed, and once at its
   * end (before the evaluation, so checkpoints never hold evaluation-only statistics).
   */
  checkpoint?: { everySteps: number; save(): Promise<void> };
  /** After each batch of the BatchNorm recalibration and of the validation pass. */
  onEvaluationBatch?(): void;
}

export interface SupernetEpochResult {
  /** The supernet's weight steps when the epoch began: below its first step when it resumed from an earlier checkpoint. */
  resumedFromStep: number;
  /**
   * Mean training loss over the steps of this epoch this call ran; undefined when it ran none (the
   * supernet was restored at the epoch's end).
   */
  meanLoss?: number;
  derived: DerivedArchitecture;
  /** Mean entropy (nats) of the decisions' path distributions. */
  meanEntropy: number;
  /** Of the derived architecture on the first EPOCH_EVAL_EXAMPLES validation examples, BatchNorm recalibrated. */
  validationAccuracy: number;
}

/** Lets timers and I/O callbacks (a heartbeat's flush, a cancellation) run between synchronous tensor steps. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SupernetTrainer {
  readonly stepsPerEpoch: number;
  private readonly schedule: ScheduleSpec;
  private readonly validationOrder: Uint32Array;
  private readonly orders = new Map<number, Uint32Array>();

  /** `split` indexes `data.train`: weight steps draw from its train part, architecture steps and scoring from its validation part. */
  constructor(
    readonly net: Supernet,
    private readonly data: ImageDataset,
    private readonly split: IndexSplit,
    readonly settings: SupernetTrainingSettings,
  ) {
    if (split.validation.length === 0) throw new Error('the supernet search needs a validation split: architecture steps and scoring read it');
    this.stepsPerEpoch = Math.ceil(split.train.length / settings.batchSize);
    this.schedule = { kind: 'cosine', baseRate: settings.learningRate, totalSteps: this.stepsPerEpoch * settings.epochs, warmupSteps: 0, minRate: 0, decaySteps: 1, decayFactor: 1 };
    this.validationOrder = epochOrder(split.validation.length, settings.seed ^ VALIDATION_ORDER_SALT, 0);
  }

  /** The weight steps epoch `epoch` runs: [start, end). */
  epochSteps(epoch: number): { start: number; end: number } {
    const start = epoch * this.stepsPerEpoch;
    return { start, end: start + this.stepsPerEpoch };
  }

  get totalSteps(): number {
    return this.stepsPerEpoch * this.settings.epochs;
  }

  /**
   * Trains from the supernet's current step to the end of `epoch`, then derives and scores the
   * derived architecture (the argmax, or within a latency target the most likely net that meets it). The supernet may stand anywhere up to the epoch's end (a restored checkpoint).
   */
  async trainEpoch(epoch: number, hooks: EpochHooks = {}): Promise<SupernetEpochResult> {
    const { net, settings } = this;
    const { end } = this.epochSteps(epoch);
    if (net.weightSteps > end) throw new Error(`epoch ${epoch} ends at supernet step ${end}, but the supernet is already at step ${net.weightSteps}`);
    const resumedFromStep = net.weightSteps;
    const sized = { size: net.resolution };
    const archEvery = net.weightStepsPerArchStep;
    let lossSum = 0;
    let lossCount = 0;
    while (net.weightSteps < end) {
      if (hooks.signal?.aborted) break;
      const stepEpoch = Math.floor(net.weightSteps / this.stepsPerEpoch);
      const inEpoch = net.weightSteps - stepEpoch * this.stepsPerEpoch;
      const order = this.orderOf(stepEpoch);
      const picked = order.subarray(inEpoch * settings.batchSize, Math.min((inEpoch + 1) * settings.batchSize, order.length));
      const batch = makeBatch(this.data, this.data.train, Uint32Array.from(picked, (i) => this.split.train[i]), sized);
      let loss: number;
      try {
        loss = (await net.weightStep(batch, learningRateAt(this.schedule, net.weightSteps))).loss;
      } finally {
        batch.xs.dispose();
        batch.ys.dispose();
      }
      // The mean loss is this epoch's; steps trained again for an earlier one do not count.
      if (stepEpoch === epoch) {
        lossSum += loss;
        lossCount++;
      }
      if (stepEpoch >= settings.warmupEpochs && net.weightSteps % archEvery === 0) await this.architectureStep();
      hooks.onStep?.({ epoch: stepEpoch, step: net.weightSteps, loss, images: picked.length });
      if (hooks.checkpoint && (net.weightSteps - resumedFromStep) % hooks.checkpoint.everySteps === 0 && net.weightSteps < end) await hooks.checkpoint.save();
      await yieldToEventLoop();
    }
    await hooks.checkpoint?.save();
    if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error('cancelled');

    const derived = net.derive();
    const validationAccuracy = await this.score(derived.choices, this.orderOf(epoch), hooks);
    return {
      resumedFromStep,
      // Not NaN: JSON turns it into null, which readers of a number cannot format.
      meanLoss: lossCount ? lossSum / lossCount : undefined,
      derived,
      meanEntropy: derived.entropy.reduce((a, b) => a + b, 0) / Math.max(1, derived.entropy.length),
      validationAccuracy,
    };
  }

  /** The next validation batch in the fixed validation order, wrapping round: architecture step k reads batch k. */
  private async architectureStep(): Promise<void> {
    const { net, settings } = this;
    const { validation } = this.split;
    const start = (net.archSteps * settings.batchSize) % validation.length;
    const v = Array.from({ length: Math.min(settings.batchSize, validation.length) }, (_, k) => validation[this.validationOrder[(start + k) % this.validationOrder.length]]);
    const batch = makeBatch(this.data, this.data.train, Uint32Array.from(v), { size: net.resolution });
    try {
      await net.architectureStep(batch);
    } finally {
      batch.xs.dispose();
      batch.ys.dispose();
    }
  }

  /**
   * BatchNorm recalibrated on the first CALIBRATION_EXAMPLES training images of `order`, then
   * accuracy on the validation split's first EPOCH_EVAL_EXAMPLES, batch by batch so that a caller
   * can report progress in between (on a loaded machine the whole pass can outlast a heartbeat timeout).
   */
  private async score(choices: readonly number[], order: Uint32Array, hooks: EpochHooks): Promise<number> {
    const { net, settings, data, split } = this;
    const sized = { size: net.resolution };
    const calibration = imageBatches(data, data.train, Uint32Array.from(order.subarray(0, CALIBRATION_EXAMPLES), (i) => split.train[i]), settings.batchSize, sized);
    try {
      for (let b = 0; b < calibration.length; b++) {
        net.recalibrateBatchNorm([calibration[b]], choices, b);
        hooks.onEvaluationBatch?.();
        await yieldToEventLoop();
      }
    } finally {
      loadTf().dispose(calibration);
    }
    const evalCount = Math.min(EPOCH_EVAL_EXAMPLES, split.validation.length);
    let hits = 0;
    for (const chunk of sequentialChunks(evalCount, settings.batchSize)) {
      const batch = makeBatch(data, data.train, Uint32Array.from(chunk, (i) => split.validation[i]), sized);
      try {
        hits += Math.round(net.accuracy(batch, choices) * chunk.length);
      } finally {
        batch.xs.dispose();
        batch.ys.dispose();
      }
      hooks.onEvaluationBatch?.();
      await yieldToEventLoop();
    }
    return hits / evalCount;
  }

  private orderOf(epoch: number): Uint32Array {
    let order = this.orders.get(epoch);
    if (!order) this.orders.set(epoch, (order = epochOrder(this.split.train.length, this.settings.seed, epoch)));
    return order;
  }
}
