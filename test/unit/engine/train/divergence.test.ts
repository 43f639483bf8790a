/**
 * A loss or gradient that is NaN or infinite is never applied: the single-process trainer (train
 * stage, search and scaling trials) and the supernet check each step before the update and throw
 * TrainingDivergedError naming the model and the step; the activities fail non-retryably (a retry
 * from the same checkpoint diverges again) naming their stage or trial; and no model with a
 * non-finite weight is ever exported. NaN comes from a layer whose forward pass is finite and whose
 * backward pass is not (x + sqrt(0 * x): d sqrt/du at 0 is infinite, times 0), or from a learning
 * rate that blows the weights up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { openArtifactStore } from '../../../../artifacts';
import { exportTfjsModel } from '../../../../activities/model-export';
import { scalingTrial, type ScalingTrialInput } from '../../../../activities/scaling-trial';
import { supernetEpoch, type SupernetEpochInput } from '../../../../activities/supernet-epoch';
import { trainClassifier, type TrainClassifierInput } from '../../../../activities/train-classifier';
import { decodeBlock } from '../../../../engine/arch/block-string';
import { runLayout } from '../../../../core/run-layout';
import { loadTf } from '../../../../engine/backend';
import { Supernet } from '../../../../engine/supernet';
import { ClassifierTrainer } from '../../../../engine/train/classifier-trainer';
import { TRAINING_DIVERGED, TrainingDivergedError, describeNonFinite, nonFiniteWeights } from '../../../../engine/train/divergence';
import { proxylessGradient } from '../../../../plugins/builtin/proxyless';
import { writeFashionSubset } from '../../../integration/support/fashion-subset';
import { space, randomBatch } from '../../../support/supernet-fixtures';
import { quadrants } from '../../../support/quadrants';

const tf = loadTf();

/** Identity forward; NaN backward: y = x + sqrt(0 * x). */
class NanGradient extends tf.layers.Layer {
  static className = 'NanGradient';
  override call(inputs: Tensor | Tensor[]): Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.add(x, tf.sqrt(tf.mul(x, 0))));
  }
}


/** A dense net; with `poison`, its hidden layer's gradient is NaN while every loss stays finite. */
function denseNet(poison: boolean): LayersModel {
  const input = tf.input({ shape: [8, 8, 1] });
  let x = tf.layers.flatten().apply(input) as SymbolicTensor;
  x = tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), name: 'hidden' }).apply(x) as SymbolicTensor;
  if (poison) x = new NanGradient({ name: 'nan_gradient' }).apply(x) as SymbolicTensor;
  const out = tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), name: 'out' }).apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: poison ? 'poisoned_net' : 'dense_net' });
}

const weightsOf = (model: LayersModel) => model.weights.map((w) => Array.from((w.read() as Tensor).dataSync()));

describe('the single-process trainer', () => {
  it('refuses a non-finite gradient before applying it, naming the model, the step and the weight; the weights stay as they were', async () => {
    const model = denseNet(true);
    const before = weightsOf(model);
    const trainer = new ClassifierTrainer(model, quadrants(32), { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'momentum', momentum: 0.9, seed: 1, batchNormCalibrationImages: 0 });
    const checkpoints: number[] = [];
    const error = await trainer.train({ checkpointEverySteps: 1, onCheckpoint: async (_b, p) => void checkpoints.push(p.globalStep) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).name).toBe(TRAINING_DIVERGED);
    expect((error as Error).message).toMatch(/^model poisoned_net diverged at step 0: the gradient of hidden\/kernel, hidden\/bias is not finite \(loss [\d.]+\)/);
    expect(weightsOf(model)).toEqual(before);
    expect(nonFiniteWeights(model)).toEqual([]);
    expect(checkpoints).toEqual([]);
    model.dispose();
  });

  it('refuses a non-finite loss (a learning rate that blows the weights up) at the step it appears, with finite weights left', async () => {
    const model = denseNet(false);
    const trainer = new ClassifierTrainer(model, quadrants(64), { epochs: 50, batchSize: 8, learningRate: 1e12, optimizer: 'momentum', momentum: 0.9, seed: 1, batchNormCalibrationImages: 0 });
    const losses: number[] = [];
    const error = await trainer.train({ checkpointEverySteps: 1000, onCheckpoint: async () => {}, onStep: (r) => void losses.push(r.loss) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(new RegExp(`^model dense_net diverged at step ${losses.length}: (loss is (NaN|Infinity)|the gradient of .* is not finite)`));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(nonFiniteWeights(model)).toEqual([]);
    model.dispose();
  });
});

describe('the supernet', () => {
  it('refuses a weight step whose loss or gradient is not finite, and applies nothing', async () => {
    const net = new Supernet({ space, numClasses: 3, inputChannels: 1, seed: 1, strategy: { plugin: proxylessGradient, config: {} } });
    await net.weightStep(randomBatch(1));
    // The failed step's forward pass may move BatchNorm statistics (never checkpointed: the activity fails); the learned weights stay.
    const learned = () => net.allWeights().filter((w) => w.trainable).map((w) => Array.from((w.read() as Tensor).dataSync()));
    const before = learned();
    const clean = randomBatch(2);
    const poisoned = { xs: tf.tidy(() => tf.where(tf.equal(tf.range(0, clean.xs.size).reshape(clean.xs.shape), 3), tf.fill(clean.xs.shape, NaN), clean.xs)), ys: clean.ys };
    await expect(net.weightStep(poisoned)).rejects.toThrow(/^supernet weight step 1 diverged: loss is NaN/);
    expect(net.weightSteps).toBe(1);
    expect(learned()).toEqual(before);
    await expect(net.architectureStep(poisoned)).rejects.toThrow(/^supernet architecture step 0 diverged: loss is NaN/);
    expect(net.alpha.flat().every(Number.isFinite)).toBe(true);
    tf.dispose([poisoned.xs, clean.xs, clean.ys]);
    net.dispose();
  });
});

describe('exporting and the activities', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'nas-divergence-'));
    writeFashionSubset(join(root, 'data'), 256, 32);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('exportTfjsModel refuses a model with a NaN weight and writes nothing', async () => {
    const model = denseNet(false);
    const kernel = model.getLayer('out').getWeights()[0];
    model.getLayer('out').setWeights([tf.tidy(() => tf.where(tf.equal(tf.range(0, kernel.size).reshape(kernel.shape), 5), tf.fill(kernel.shape, NaN), kernel)), model.getLayer('out').getWeights()[1]]);
    const store = openArtifactStore(join(root, 'export'));
    await expect(exportTfjsModel(model, store, 'm/model.json', 'm/weights.bin', 'the test model')).rejects.toThrow(
      /^the test model has non-finite weights \(NaN or Infinity in out\/kernel\); it is not exported/,
    );
    expect(await store.list('m/')).toEqual([]);
    model.dispose();
  });

  it('the train stage activity fails non-retryably with TrainingDivergedError naming the stage and step, and stores no model', async () => {
    const input: TrainClassifierInput = {
      runId: 'diverges',
      stage: 'train',
      artifactLocation: join(root, 'artifacts'),
      seed: 1,
      dataset: { name: 'fashion-mnist', path: join(root, 'data'), resolution: 28, validationFraction: 0 },
      train: { model: { kind: 'small-cnn', filters: 4 }, epochs: 2, batchSize: 32, learningRate: 1e4, optimizer: 'momentum', momentum: 0.9, checkpointEverySteps: 2, heartbeatTimeoutSeconds: 60 },
    };
    const error = await new MockActivityEnvironment().run(trainClassifier, input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    const failure = error as ApplicationFailure;
    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe(TRAINING_DIVERGED);
    expect(failure.message).toMatch(/^stage train: model small_cnn diverged at step \d+: /);
    const store = openArtifactStore(input.artifactLocation);
    const keys = runLayout(input.runId).training(input.stage);
    expect(await store.head(keys.modelJson)).toBeUndefined();
    expect(await store.head(keys.metrics)).toBeUndefined();
  });

  /** The ApplicationFailure an activity run ended with. */
  const failureOf = async (run: Promise<unknown>): Promise<ApplicationFailure> => {
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    return error as ApplicationFailure;
  };

  it('a scaling trial and a supernet epoch that diverge fail non-retryably, naming the trial or epoch', async () => {
    const data = { name: 'fashion-mnist' as const, path: join(root, 'data'), resolution: 28, validationFraction: 0.25 };
    const trial: ScalingTrialInput = {
      runId: 'trial-diverges',
      artifactLocation: join(root, 'artifacts'),
      seed: 3,
      dataset: data,
      baseline: {
        arch: { name: 'tiny', resolution: 28, inputChannels: 1, numClasses: 10, stem: { channels: 8, kernel: 3, stride: 2 }, blocks: ['e1_k3_s1_c8', 'e2_k3_s2_c16'].map(decodeBlock), headChannels: null },
      },
      point: { alpha: 1, beta: 1, gamma: 1 },
      epochs: 3,
      batchSize: 16,
      learningRate: 1e8,
      pluginFiles: [],
    };
    const t = await failureOf(new MockActivityEnvironment().run(scalingTrial, trial));
    expect([t.type, t.nonRetryable]).toEqual([TRAINING_DIVERGED, true]);
    expect(t.message).toMatch(/^scaling trial 1_1_1: model tiny_1_1_1 diverged at step \d+: /);

    const epoch: SupernetEpochInput = {
      runId: 'supernet-diverges',
      artifactLocation: join(root, 'artifacts'),
      seed: 4,
      dataset: data,
      space,
      strategy: 'proxyless-gradient',
      pluginFiles: [],
      epoch: 0,
      epochs: 1,
      warmupEpochs: 0,
      batchSize: 16,
      learningRate: 1e8,
      strategyConfig: {},
      latencyWeight: 0,
      checkpointEverySteps: 2,
    };
    const e = await failureOf(new MockActivityEnvironment().run(supernetEpoch, epoch));
    expect([e.type, e.nonRetryable]).toEqual([TRAINING_DIVERGED, true]);
    expect(e.message).toMatch(/^one-shot search, supernet epoch 0: supernet (weight|architecture) step \d+ diverged: /);
  });

  it('describeNonFinite counts and locates the bad values', () => {
    expect(describeNonFinite(Float32Array.from([1, 2, 3]))).toBeUndefined();
    expect(describeNonFinite(Float32Array.from([1, NaN, Infinity, -Infinity, 0]))).toBe('3 of 5 values are not finite, the first (index 1) is NaN');
  });
});
