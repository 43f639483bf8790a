/**
 * A resumable training loop for image classifiers. The position (epoch, step) fully determines
 * which samples come next, and a checkpoint holds weights, optimizer slots and position, so a run
 * restored from a checkpoint continues exactly where the saved one stood.
 */
import type { LayersModel, Optimizer, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { epochOrder, makeBatch, sequentialChunks } from '../data/batches';
import type { ImageDataset } from '../data/dataset';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from './checkpoint';

export interface TrainerOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'momentum';
  momentum: number;
  seed: number;
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
  stepsPerEpoch: number;
  totalSteps: number;
}

export interface CheckpointMeta {
  position: TrainPosition;
  options: TrainerOptions;
  modelName: string;
}

export interface TrainHooks {
  checkpointEverySteps: number;
  onCheckpoint(bytes: Uint8Array, position: TrainPosition): Promise<void>;
  onStep?(report: StepReport): void | Promise<void>;
  /** Checked between steps; training stops (after a final checkpoint) when it returns true. */
  shouldStop?(): boolean;
}

export interface Evaluation {
  accuracy: number;
  loss: number;
  perClassAccuracy: number[];
  count: number;
}

export class CheckpointMismatchError extends Error {
  constructor(detail: string) {
    super(`checkpoint does not fit this training run: ${detail}`);
    this.name = 'CheckpointMismatchError';
  }
}

export class ClassifierTrainer {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  position: TrainPosition = { epoch: 0, stepInEpoch: 0, globalStep: 0 };
  private readonly optimizer: Optimizer;
  private readonly trainable: Variable[];

  constructor(
    readonly model: LayersModel,
    readonly data: ImageDataset,
    readonly options: TrainerOptions,
  ) {
    const tf = loadTf();
    this.stepsPerEpoch = Math.ceil(data.train.count / options.batchSize);
    this.totalSteps = this.stepsPerEpoch * options.epochs;
    this.optimizer =
      options.optimizer === 'adam'
        ? tf.train.adam(options.learningRate)
        : tf.train.momentum(options.learningRate, options.momentum);
    // An explicit, ordered variable list: tfjs optimizers key their slots by position in it.
    this.trainable = model.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  }

  get done(): boolean {
    return this.position.globalStep >= this.totalSteps;
  }

  async checkpoint(): Promise<Uint8Array> {
    // read() hands out the live variables; they are encoded, never disposed here.
    const weights = this.model.weights.map((w) => ({ name: w.originalName, tensor: w.read() as Tensor }));
    const slots = await this.optimizer.getWeights();
    const bytes = await encodeCheckpoint<CheckpointMeta>({
      meta: { position: { ...this.position }, options: this.options, modelName: this.model.name },
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
      for (const key of ['batchSize', 'epochs', 'seed', 'optimizer'] as const) {
        if (meta.options[key] !== this.options[key]) {
          throw new CheckpointMismatchError(`${key} was ${meta.options[key]}, now ${this.options[key]}`);
        }
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
    } finally {
      disposeCheckpoint(contents);
    }
  }

  async train(hooks: TrainHooks): Promise<void> {
    const tf = loadTf();
    let order = epochOrder(this.data.train.count, this.options.seed, this.position.epoch);
    let sinceCheckpoint = 0;
    while (!this.done) {
      if (hooks.shouldStop?.()) break;
      const start = this.position.stepInEpoch * this.options.batchSize;
      const indices = order.subarray(start, Math.min(start + this.options.batchSize, order.length));
      const batch = makeBatch(this.data, this.data.train, indices);
      const lossTensor = this.optimizer.minimize(
        () => {
          const logits = this.model.apply(batch.xs, { training: true }) as Tensor;
          return tf.losses.softmaxCrossEntropy(batch.ys, logits) as Scalar;
        },
        true,
        this.trainable,
      );
      const loss = (await lossTensor!.data())[0];
      tf.dispose([lossTensor!, batch.xs, batch.ys]);
      if (!Number.isFinite(loss)) {
        throw new Error(`training diverged at step ${this.position.globalStep}: loss is ${loss}; lower the learning rate`);
      }

      this.position.globalStep++;
      this.position.stepInEpoch++;
      if (this.position.stepInEpoch >= this.stepsPerEpoch) {
        this.position.epoch++;
        this.position.stepInEpoch = 0;
        order = epochOrder(this.data.train.count, this.options.seed, this.position.epoch);
      }
      sinceCheckpoint++;
      await hooks.onStep?.({ position: { ...this.position }, loss, stepsPerEpoch: this.stepsPerEpoch, totalSteps: this.totalSteps });
      if (sinceCheckpoint >= hooks.checkpointEverySteps || this.done) {
        await hooks.onCheckpoint(await this.checkpoint(), { ...this.position });
        sinceCheckpoint = 0;
      }
      // Yield to the event loop so heartbeats and cancellation get through between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (sinceCheckpoint > 0) await hooks.onCheckpoint(await this.checkpoint(), { ...this.position });
  }

  evaluate(split: 'train' | 'test' = 'test', batchSize = 500): Evaluation {
    const tf = loadTf();
    const data = this.data[split];
    const correctPerClass = new Array<number>(this.data.numClasses).fill(0);
    const totalPerClass = new Array<number>(this.data.numClasses).fill(0);
    let lossSum = 0;
    for (const indices of sequentialChunks(data.count, batchSize)) {
      const batch = makeBatch(this.data, data, indices);
      const [predicted, loss] = tf.tidy(() => {
        const logits = this.model.apply(batch.xs, { training: false }) as Tensor;
        const l = tf.losses.softmaxCrossEntropy(batch.ys, logits, undefined, undefined, tf.Reduction.SUM);
        return [logits.argMax(-1).dataSync(), l.dataSync()[0]] as const;
      });
      tf.dispose([batch.xs, batch.ys]);
      lossSum += loss;
      for (let i = 0; i < indices.length; i++) {
        const label = data.labels[indices[i]];
        totalPerClass[label]++;
        if (predicted[i] === label) correctPerClass[label]++;
      }
    }
    const correct = correctPerClass.reduce((a, b) => a + b, 0);
    return {
      accuracy: correct / data.count,
      loss: lossSum / data.count,
      perClassAccuracy: correctPerClass.map((c, i) => (totalPerClass[i] ? c / totalPerClass[i] : 0)),
      count: data.count,
    };
  }
}
