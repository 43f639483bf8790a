/**
 * A resumable training loop for image classifiers. Everything random is a pure function of
 * (seed, global step): data order, augmentation draws, dropout and drop-connect masks; the
 * learning rate is a function of the global step. A checkpoint holds weights (BatchNorm's moving
 * statistics included), optimizer slots, the position and the early-stopping record, so a run
 * restored from one continues exactly where the saved one stood.
 *
 * Every evaluation (per-epoch validation, the final test pass) and the end of training first
 * re-estimate BatchNorm's moving statistics from a fixed sample of training images ("precise BN",
 * see precise-bn.ts): with the usual momentum 0.99 a short training leaves them near their initial
 * 0 and 1, and the model then predicts one class for every image in inference mode.
 */
import type { LayersModel, NamedTensorMap, Optimizer, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { compileTrainingStep, type CompiledTrainingStep } from '../graph/training-step';
import type { NoiseKwargs } from '../blocks/seeded-dropout';
import type { AugmentOptions } from '../data/augment';
import { epochOrder, makeBatch } from '../data/batches';
import type { ImageDataset, ImageSplit } from '../data/dataset';
import { splitIndices } from '../data/split';
import { mixSeed } from '../../core/random';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from './checkpoint';
import { nonFiniteTensors, TrainingDivergedError } from './divergence';
import { evaluateClassifier, type Evaluation } from './evaluate';
import { makeOptimizer, setLearningRate } from './optimizers';
import { calibrationBatches, calibrationSample, DEFAULT_CALIBRATION_IMAGES, recalibrateBatchNorm } from './precise-bn';
import { learningRateAt, type ScheduleKind, type ScheduleSpec } from './schedule';
import { isDecayedKernel } from './weight-decay';

/**
 * The first six fields are the original contract; every later one is optional and its default
 * reproduces the original behaviour (constant rate, no smoothing, decay, split or augmentation),
 * except `batchNormCalibrationImages`, whose default re-estimates BatchNorm statistics (a fix).
 */
export interface TrainerOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'momentum' | 'rmsprop';
  momentum: number;
  seed: number;
  /** Default 'constant'. */
  schedule?: ScheduleKind;
  /** Linear warm-up steps. Default 0. */
  warmupSteps?: number;
  /** Cosine floor. Default 0. */
  minLearningRate?: number;
  /** Step schedule: decay every this many epochs (fractional allowed; EfficientNet: 2.4). Default 1. */
  decayEveryEpochs?: number;
  /** Step schedule factor (EfficientNet: 0.97). Default 0.1. */
  decayFactor?: number;
  /** RMSProp: default decay 0.9 and epsilon 1e-3, the official EfficientNet values. */
  rmspropDecay?: number;
  rmspropEpsilon?: number;
  /** Label smoothing of the cross-entropy target (EfficientNet: 0.1). Default 0. */
  labelSmoothing?: number;
  /** L2 penalty wd/2 * sum(w^2) on conv, depthwise and dense kernels (not biases or BatchNorm). Default 0. */
  weightDecay?: number;
  /** Fraction of the training split held out (seeded) for validation. Default 0: none. */
  validationFraction?: number;
  /** Stop after this many epochs without a better validation accuracy. Needs validationFraction > 0. */
  earlyStoppingPatience?: number;
  /** Augmentation of training batches. Default none. */
  augment?: AugmentOptions;
  /**
   * Training images (a fixed seeded sample, un-augmented) BatchNorm's moving statistics are
   * re-estimated from before every evaluation and at the end of training. Default
   * DEFAULT_CALIBRATION_IMAGES; 0 keeps the moving averages as training left them.
   */
  batchNormCalibrationImages?: number;
}

/** The next step to run. */
export interface TrainPosition {
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
}

export interface StepReport {
  position: TrainPosition;
  loss: number;
  learningRate: number;
  stepsPerEpoch: number;
  totalSteps: number;
}

export interface EpochReport {
  /** The epoch just finished (0-based). */
  epoch: number;
  validationAccuracy?: number;
  bestValidationAccuracy?: number;
  stoppedEarly: boolean;
}

/** What early stopping remembers; checkpointed with the position. */
export interface ValidationRecord {
  best: number | null;
  bestEpoch: number | null;
  epochsWithoutImprovement: number;
  stoppedEarly: boolean;
  history: { epoch: number; accuracy: number }[];
}

export interface CheckpointMeta {
  position: TrainPosition;
  options: TrainerOptions;
  modelName: string;
  validation?: ValidationRecord;
  /** The global step at which BatchNorm statistics were last re-estimated (absent: never). */
  batchNormCalibratedAt?: number;
}

export interface TrainHooks {
  checkpointEverySteps: number;
  onCheckpoint(bytes: Uint8Array, position: TrainPosition): Promise<void>;
  onStep?(report: StepReport): void | Promise<void>;
  onEpoch?(report: EpochReport): void | Promise<void>;
  /** Checked between steps; training stops (after a final checkpoint) when it returns true. */
  shouldStop?(): boolean;
  /** Told once, before the first step, when the model trains on the eager tape instead of the compiled graph, and why. */
  onEagerStep?(reason: string): void;
}

export class CheckpointMismatchError extends Error {
  constructor(detail: string) {
    super(`checkpoint does not fit this training run: ${detail}`);
    this.name = 'CheckpointMismatchError';
  }
}

/** Salts that keep the per-step streams (augmentation, dropout) unrelated to each other. */
const AUGMENT_SALT = 0xa06;
const NOISE_SALT = 0xd40;

/** Options that decide which sample or mask comes at which step; a checkpoint must agree on them. */
const RUN_DEFINING = ['batchSize', 'epochs', 'seed', 'optimizer', 'validationFraction'] as const;

/** At most three names, then how many more. */
function listed(names: string[]): string {
  return names.slice(0, 3).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more` : '');
}

export class ClassifierTrainer {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  position: TrainPosition = { epoch: 0, stepInEpoch: 0, globalStep: 0 };
  validation: ValidationRecord = { best: null, bestEpoch: null, epochsWithoutImprovement: 0, stoppedEarly: false, history: [] };
  /** The model's input side; batches are resized to it when the data differ. */
  readonly resolution: number;
  private readonly optimizer: Optimizer;
  private readonly trainable: Variable[];
  /** The layer weights' names of `trainable`, for messages. */
  private readonly trainableNames: string[];
  private readonly kernels: Variable[];
  private readonly schedule: ScheduleSpec;
  private readonly trainIndices: Uint32Array;
  private readonly validationIndices: Uint32Array;
  /** The training images BatchNorm statistics are re-estimated from; empty when that is off. */
  private readonly calibrationIndices: Uint32Array;
  /**
   * The step whose weights the moving statistics were last re-estimated for. Checkpointed: a
   * resumed run re-estimates exactly when an uninterrupted one would, so both end bit-identical.
   */
  private batchNormCalibratedAt: number | null = null;

  constructor(
    readonly model: LayersModel,
    readonly data: ImageDataset,
    readonly options: TrainerOptions,
  ) {
    const inputShape = model.inputs[0].shape;
    this.resolution = inputShape[1] as number;
    if (inputShape[3] !== data.channels) {
      throw new Error(`model ${model.name} takes ${inputShape[3]}-channel images but ${data.name} has ${data.channels}; build it with inputChannels ${data.channels}`);
    }
    if ((options.earlyStoppingPatience ?? 0) > 0 && !((options.validationFraction ?? 0) > 0)) {
      throw new Error('earlyStoppingPatience needs a validation split: set validationFraction > 0');
    }
    if ((options.validationFraction ?? 0) > 0) {
      const split = splitIndices(data.train.count, options.validationFraction ?? 0, options.seed);
      this.trainIndices = split.train;
      this.validationIndices = split.validation;
    } else {
      this.trainIndices = Uint32Array.from({ length: data.train.count }, (_, i) => i);
      this.validationIndices = new Uint32Array(0);
    }
    this.calibrationIndices = calibrationSample(this.trainIndices, options.batchNormCalibrationImages ?? DEFAULT_CALIBRATION_IMAGES, options.seed);
    this.stepsPerEpoch = Math.ceil(this.trainIndices.length / options.batchSize);
    this.totalSteps = this.stepsPerEpoch * options.epochs;
    this.schedule = {
      kind: options.schedule ?? 'constant',
      baseRate: options.learningRate,
      totalSteps: this.totalSteps,
      warmupSteps: options.warmupSteps ?? 0,
      minRate: options.minLearningRate ?? 0,
      decaySteps: (options.decayEveryEpochs ?? 1) * this.stepsPerEpoch,
      decayFactor: options.decayFactor ?? 0.1,
    };
    this.optimizer = makeOptimizer({
      kind: options.optimizer,
      learningRate: learningRateAt(this.schedule, 0),
      momentum: options.momentum,
      rmspropDecay: options.rmspropDecay ?? 0.9,
      rmspropEpsilon: options.rmspropEpsilon ?? 1e-3,
    });
    // An explicit, ordered variable list: tfjs optimizers key their slots by position in it.
    const variables = model.trainableWeights.map((w) => ({ name: w.originalName, v: (w as unknown as { val: Variable }).val }));
    this.trainable = variables.map((x) => x.v);
    this.trainableNames = variables.map((x) => x.name);
    this.kernels = variables.filter((x) => isDecayedKernel(x.name)).map((x) => x.v);
  }

  get done(): boolean {
    return this.position.globalStep >= this.totalSteps || this.validation.stoppedEarly;
  }

  learningRate(globalStep = this.position.globalStep): number {
    return learningRateAt(this.schedule, globalStep);
  }

  async checkpoint(): Promise<Uint8Array> {
    // read() hands out the live variables; they are encoded, never disposed here.
    const weights = this.model.weights.map((w) => ({ name: w.originalName, tensor: w.read() as Tensor }));
    const slots = await this.optimizer.getWeights();
    const bytes = await encodeCheckpoint<CheckpointMeta>({
      meta: {
        position: { ...this.position },
        options: this.options,
        modelName: this.model.name,
        validation: this.validation,
        ...(this.batchNormCalibratedAt === null ? {} : { batchNormCalibratedAt: this.batchNormCalibratedAt }),
      },
      groups: { model: weights, optimizer: slots.map((s) => ({ name: s.name, tensor: s.tensor })) },
    });
    return bytes;
  }

  async restore(bytes: Uint8Array): Promise<void> {
    const contents = decodeCheckpoint<CheckpointMeta>(bytes);
    try {
      const { meta, groups } = contents;
      if (meta.modelName !== this.model.name) {
        throw new CheckpointMismatchError(`it is for model ${meta.modelName}, not ${this.model.name}`);
      }
      for (const key of RUN_DEFINING) {
        // JSON drops undefined fields, so compare with the defaults filled in.
        const saved = meta.options[key] ?? (key === 'validationFraction' ? 0 : undefined);
        const now = this.options[key] ?? (key === 'validationFraction' ? 0 : undefined);
        if (saved !== now) throw new CheckpointMismatchError(`${key} was ${saved}, now ${now}`);
      }
      const saved = new Map(groups.model.map((g) => [g.name, g.tensor]));
      const values = this.model.weights.map((w) => {
        const t = saved.get(w.originalName);
        if (!t) throw new CheckpointMismatchError(`weight ${w.originalName} is missing`);
        if (t.shape.join(',') !== w.shape.join(',')) {
          throw new CheckpointMismatchError(`weight ${w.originalName} has shape [${t.shape}], expected [${w.shape}]`);
        }
        return t;
      });
      this.model.setWeights(values);
      if (groups.optimizer.length > 0) await this.optimizer.setWeights(groups.optimizer);
      this.position = { ...meta.position };
      if (meta.validation) this.validation = structuredClone(meta.validation);
      this.batchNormCalibratedAt = meta.batchNormCalibratedAt ?? null;
    } finally {
      disposeCheckpoint(contents);
    }
  }

  private epochIndices(epoch: number): Uint32Array {
    const order = epochOrder(this.trainIndices.length, this.options.seed, epoch);
    // Without a validation split trainIndices is the identity, so the order is the original one.
    return order.map((i) => this.trainIndices[i]);
  }

  private lossOf(xs: Tensor, ys: Tensor, noiseStep: number): Scalar {
    const tf = loadTf();
    const kwargs: NoiseKwargs = { training: true, noiseStep };
    const logits = this.model.apply(xs, kwargs) as Tensor;
    let loss = tf.losses.softmaxCrossEntropy(ys, logits, undefined, this.options.labelSmoothing ?? 0) as Scalar;
    const wd = this.options.weightDecay ?? 0;
    if (wd > 0 && this.kernels.length > 0) {
      const l2 = tf.addN(this.kernels.map((k) => tf.sum(tf.square(k))));
      loss = tf.add(loss, tf.mul(l2, wd / 2)) as Scalar;
    }
    return loss;
  }

  async train(hooks: TrainHooks): Promise<void> {
    // The step as one TensorFlow graph where the model allows it (engine/graph/training-step.ts),
    // the eager tape otherwise: the same loss and gradients, to rounding. Its session lives as
    // long as this call.
    const { step: compiled, reason } = compileTrainingStep(this.model, {
      labelSmoothing: this.options.labelSmoothing ?? 0,
      weightDecay: this.options.weightDecay ?? 0,
      decays: isDecayedKernel,
    });
    if (!compiled) hooks.onEagerStep?.(reason ?? 'not compiled');
    try {
      await this.trainWith(compiled, hooks);
    } finally {
      compiled?.dispose();
    }
  }

  private async trainWith(compiled: CompiledTrainingStep | null, hooks: TrainHooks): Promise<void> {
    const tf = loadTf();
    let order = this.epochIndices(this.position.epoch);
    let sinceCheckpoint = 0;
    while (!this.done) {
      if (hooks.shouldStop?.()) break;
      const step = this.position.globalStep;
      const start = this.position.stepInEpoch * this.options.batchSize;
      const indices = order.subarray(start, Math.min(start + this.options.batchSize, order.length));
      const learningRate = this.learningRate(step);
      setLearningRate(this.optimizer, learningRate);
      const batch = makeBatch(this.data, this.data.train, indices, {
        augment: this.options.augment,
        augmentSeed: mixSeed(this.options.seed, AUGMENT_SALT, step),
        size: this.resolution,
      });
      const noiseStep = mixSeed(this.options.seed, NOISE_SALT, step);
      // minimize() would apply the gradients before anyone could look at them: computed, checked,
      // and only then applied, so that a NaN never reaches the weights (or a checkpoint of them).
      const { value, grads } = compiled
        ? compiledGradients(compiled, this.trainable, batch.xs, batch.ys, noiseStep)
        : this.optimizer.computeGradients(() => this.lossOf(batch.xs, batch.ys, noiseStep), this.trainable);
      let loss: number;
      try {
        loss = (await value.data())[0];
        const diverged = (what: string) => new TrainingDivergedError(`model ${this.model.name} diverged at step ${step}: ${what}; lower the learning rate`);
        if (!Number.isFinite(loss)) throw diverged(`loss is ${loss}`);
        // The forward pass has also moved BatchNorm's moving statistics: checked with the gradients, in one read-back.
        const statistics = this.model.nonTrainableWeights;
        const bad = nonFiniteTensors([...this.trainable.map((v) => grads[v.name]), ...statistics.map((w) => w.read() as Tensor)]);
        const badGradients = bad.filter((i) => i < this.trainable.length).map((i) => this.trainableNames[i]);
        const badStatistics = bad.filter((i) => i >= this.trainable.length).map((i) => statistics[i - this.trainable.length].originalName);
        if (badGradients.length > 0) throw diverged(`the gradient of ${listed(badGradients)} is not finite (loss ${loss})`);
        if (badStatistics.length > 0) throw diverged(`the BatchNorm statistics ${listed(badStatistics)} are not finite (loss ${loss})`);
        // In the order of the variable list, as minimize() passes them: the optimizer keys its slots by position.
        this.optimizer.applyGradients(this.trainable.map((v) => ({ name: v.name, tensor: grads[v.name] })));
      } finally {
        tf.dispose([value, ...Object.values(grads), batch.xs, batch.ys]);
      }

      this.position.globalStep++;
      this.position.stepInEpoch++;
      if (this.position.stepInEpoch >= this.stepsPerEpoch) {
        const finished = this.position.epoch;
        this.position.epoch++;
        this.position.stepInEpoch = 0;
        order = this.epochIndices(this.position.epoch);
        // Evaluated whether or not anyone listens: early stopping depends on it.
        const report = this.endOfEpoch(finished);
        await hooks.onEpoch?.(report);
      }
      // Before the last checkpoint, so a retry from it finds the statistics already re-estimated.
      if (this.done) this.calibrateBatchNorm();
      sinceCheckpoint++;
      await hooks.onStep?.({ position: { ...this.position }, loss, learningRate, stepsPerEpoch: this.stepsPerEpoch, totalSteps: this.totalSteps });
      if (sinceCheckpoint >= hooks.checkpointEverySteps || this.done) {
        await hooks.onCheckpoint(await this.checkpoint(), { ...this.position });
        sinceCheckpoint = 0;
      }
      // Yield to the event loop so heartbeats and cancellation get through between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (sinceCheckpoint > 0) await hooks.onCheckpoint(await this.checkpoint(), { ...this.position });
  }

  /** Validation and the early-stopping decision, before the checkpoint of that step is taken. */
  private endOfEpoch(epoch: number): EpochReport {
    if (this.validationIndices.length === 0) return { epoch, stoppedEarly: false };
    // Early stopping and trial scores read this accuracy: it must not be that of stale statistics.
    const accuracy = this.evaluate('validation').accuracy;
    const v = this.validation;
    v.history.push({ epoch, accuracy });
    if (v.best === null || accuracy > v.best) {
      v.best = accuracy;
      v.bestEpoch = epoch;
      v.epochsWithoutImprovement = 0;
    } else {
      v.epochsWithoutImprovement++;
    }
    const patience = this.options.earlyStoppingPatience ?? 0;
    if (patience > 0 && v.epochsWithoutImprovement >= patience) v.stoppedEarly = true;
    return { epoch, validationAccuracy: accuracy, bestValidationAccuracy: v.best, stoppedEarly: v.stoppedEarly };
  }

  /**
   * Re-estimates BatchNorm's moving statistics for the current weights (precise-bn.ts), unless
   * that was already done at this step or is turned off. Trained weights are untouched: training
   * normalises with batch statistics and never reads the moving ones.
   */
  calibrateBatchNorm(): void {
    if (this.calibrationIndices.length === 0 || this.batchNormCalibratedAt === this.position.globalStep) return;
    recalibrateBatchNorm(this.model, calibrationBatches(this.data, this.data.train, this.calibrationIndices, this.options.batchSize, this.resolution));
    this.batchNormCalibratedAt = this.position.globalStep;
  }

  /**
   * Accuracy and mean loss (without label smoothing or weight decay) on a split, in inference mode,
   * after re-estimating BatchNorm statistics for the current weights (see `calibrateBatchNorm`).
   */
  evaluate(split: 'train' | 'test' | 'validation' = 'test', batchSize = 500): Evaluation {
    this.calibrateBatchNorm();
    const source: ImageSplit = split === 'test' ? this.data.test : this.data.train;
    return evaluateClassifier(this.model, this.data, source, { indices: split === 'validation' ? this.validationIndices : undefined, batchSize });
  }
}

/** The compiled step's results in the form `optimizer.computeGradients` gives them. */
function compiledGradients(step: CompiledTrainingStep, trainable: Variable[], xs: Tensor, ys: Tensor, noiseStep: number): { value: Scalar; grads: NamedTensorMap } {
  const { loss, gradients } = step.run(xs, ys, noiseStep);
  return { value: loss, grads: Object.fromEntries(trainable.map((v, i) => [v.name, gradients[i]])) };
}
