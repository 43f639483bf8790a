/**
 * The compiled training step (engine/graph/) computes what tfjs's eager tape computes: the same
 * loss, the same gradient for every trainable weight and the same moved BatchNorm statistics, for
 * each layer class it compiles (MBConv with squeeze-excitation and swish, MobileNetV2's ReLU6
 * blocks, the small CNN's ReLU, max pooling, flatten and dense), on the native backend. Its dropout
 * is reproducible from the noise step and keeps the rate; a model it cannot express trains eagerly
 * and says why. The saved_model.pb it writes is read back by tfjs-node's own SavedModel reader.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import type { ArchSpecInput } from '../../../../engine/arch/spec';
import { loadTf } from '../../../../engine/backend';
import { encodeSavedModel } from '../../../../engine/graph/proto';
import { CompiledTrainingStep, compileTrainingStep, type TrainingLoss } from '../../../../engine/graph/training-step';
import { buildArchModel } from '../../../../engine/models/arch-model';
import { buildSmallCnn } from '../../../../engine/models/small-cnn';

const tf = loadTf();
const isKernel = (name: string) => /\/(kernel|depthwise_kernel)$/.test(name);
const LOSS: TrainingLoss = { labelSmoothing: 0.1, weightDecay: 5e-4, decays: isKernel };

function arch(o: Partial<ArchSpecInput> = {}): ArchSpecInput {
  return {
    name: 'graph-step',
    resolution: 12,
    inputChannels: 1,
    numClasses: 5,
    stem: { channels: 8, kernel: 3, stride: 1 },
    blocks: [
      { expansion: 1, kernel: 3, stride: 1, outChannels: 8, seRatio: 0.25 },
      { expansion: 3, kernel: 5, stride: 2, outChannels: 12, seRatio: 0.25, repeats: 2 },
    ],
    headChannels: 24,
    activation: 'swish',
    dropout: 0,
    dropConnect: 0,
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
    ...o,
  };
}

function batch(model: LayersModel, n: number, seed: number): { xs: Tensor; ys: Tensor } {
  const [, h, w, c] = model.inputs[0].shape as number[];
  const classes = model.outputs[0].shape[1] as number;
  return {
    xs: tf.randomUniform([n, h, w, c], 0, 1, 'float32', seed),
    ys: tf.oneHot(tf.randomUniform([n], 0, classes, 'int32', seed + 1) as Tensor, classes).toFloat(),
  };
}

function eagerStep(model: LayersModel, xs: Tensor, ys: Tensor, loss: TrainingLoss) {
  const trainable = model.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  const kernels = model.trainableWeights.filter((w) => loss.decays(w.originalName)).map((w) => (w as unknown as { val: Variable }).val);
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(xs, { training: true, noiseStep: 1 } as never) as Tensor;
    const ce = tf.losses.softmaxCrossEntropy(ys, logits, undefined, loss.labelSmoothing) as Scalar;
    return tf.add(ce, tf.mul(tf.addN(kernels.map((k) => tf.sum(tf.square(k)))), loss.weightDecay / 2)) as Scalar;
  }, trainable);
  return { loss: value, gradients: trainable.map((v) => grads[v.name]) };
}

/** Both steps from the same weights and statistics; returns the largest differences, scaled. */
function compare(model: LayersModel, n = 16) {
  const { xs, ys } = batch(model, n, 3);
  const before = model.nonTrainableWeights.map((w) => w.read().clone());
  const eager = eagerStep(model, xs, ys, LOSS);
  const eagerStats = model.nonTrainableWeights.map((w) => w.read().clone());
  model.nonTrainableWeights.forEach((w, i) => w.write(before[i]));
  const step = CompiledTrainingStep.compile(model, LOSS);
  try {
    const graph = step.run(xs, ys, 1);
    // Gradients that are zero up to rounding (the shift of a BatchNorm whose output a later
    // BatchNorm normalises again) make relative errors meaningless: scale by the largest gradient.
    const scale = Math.max(...eager.gradients.map((g) => tf.max(tf.abs(g)).dataSync()[0]));
    const gradientError = Math.max(...eager.gradients.map((g, i) => tf.max(tf.abs(tf.sub(g, graph.gradients[i]))).dataSync()[0])) / scale;
    const statsError = Math.max(...model.nonTrainableWeights.map((w, i) => tf.max(tf.abs(tf.sub(w.read(), eagerStats[i]))).dataSync()[0]));
    return {
      lossError: Math.abs(eager.loss.dataSync()[0] - graph.loss.dataSync()[0]),
      gradientError,
      statsError,
      count: graph.gradients.length,
      shapesMatch: graph.gradients.every((g, i) => g.shape.join() === eager.gradients[i].shape.join()),
    };
  } finally {
    step.dispose();
  }
}

describe('the compiled training step', () => {
  it('matches the eager tape on MBConv blocks with squeeze-excitation and swish', () => {
    const model = buildArchModel(arch(), { seed: 4 });
    const r = compare(model);
    expect(r.count).toBe(model.trainableWeights.length);
    expect(r.shapesMatch).toBe(true);
    expect(r.lossError).toBeLessThan(1e-5);
    expect(r.gradientError).toBeLessThan(1e-4);
    expect(r.statsError).toBeLessThan(1e-5);
  });

  it('matches on ReLU6 blocks without squeeze-excitation, and on the small CNN (ReLU, max pooling, dense)', () => {
    const relu6 = buildArchModel(arch({ activation: 'relu6', blocks: [{ expansion: 6, kernel: 3, stride: 2, outChannels: 8, seRatio: 0, repeats: 2 }] }), { seed: 5 });
    const cnn = buildSmallCnn({ height: 12, width: 12, channels: 1, numClasses: 5, filters: 4, seed: 6 });
    for (const model of [relu6, cnn]) {
      const r = compare(model);
      expect(r.shapesMatch).toBe(true);
      expect(r.lossError).toBeLessThan(1e-5);
      expect(r.gradientError).toBeLessThan(1e-4);
      expect(r.statsError).toBeLessThan(1e-5);
    }
  });

  it('draws dropout and drop-connect masks from the noise step: the same step the same, another step another', () => {
    const model = buildArchModel(arch({ dropout: 0.5, dropConnect: 0.9 }), { seed: 7 });
    const { xs, ys } = batch(model, 32, 8);
    const step = CompiledTrainingStep.compile(model, LOSS);
    const stats = model.nonTrainableWeights.map((w) => w.read().clone());
    const lossAt = (noiseStep: number) => {
      model.nonTrainableWeights.forEach((w, i) => w.write(stats[i].clone()));
      const r = step.run(xs, ys, noiseStep);
      const value = r.loss.dataSync()[0];
      tf.dispose([r.loss, ...r.gradients]);
      return value;
    };
    try {
      expect(lossAt(11)).toBe(lossAt(11));
      expect(lossAt(11)).not.toBe(lossAt(12));
    } finally {
      step.dispose();
    }
  });

  it('keeps the dropout rate: about half of a rate-0.5 layer\'s inputs get no gradient', () => {
    // Classifier weights behind top dropout: a dropped feature's row of the kernel gradient is zero
    // for that example; with one example, about half of the rows are zero.
    const model = buildArchModel(arch({ dropout: 0.5 }), { seed: 9 });
    const { xs, ys } = batch(model, 1, 10);
    const step = CompiledTrainingStep.compile(model, { ...LOSS, weightDecay: 0 });
    try {
      const index = model.trainableWeights.findIndex((w) => w.originalName === 'predictions/kernel');
      let zero = 0;
      let rows = 0;
      for (let s = 0; s < 20; s++) {
        const r = step.run(xs, ys, s);
        const g = r.gradients[index];
        const rowNorms = tf.sum(tf.abs(g), 1).dataSync();
        rows += rowNorms.length;
        zero += rowNorms.filter((v) => v === 0).length;
        tf.dispose([r.loss, ...r.gradients]);
      }
      expect(zero / rows).toBeGreaterThan(0.4);
      expect(zero / rows).toBeLessThan(0.6);
    } finally {
      step.dispose();
    }
  });

  it('leaves a model it cannot express to the eager path, naming the layer', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const x = tf.layers.conv2d({ filters: 2, kernelSize: 3, dilationRate: 2, padding: 'same', name: 'dilated' }).apply(input);
    const y = tf.layers.dense({ units: 3 }).apply(tf.layers.flatten().apply(x) as never);
    const model = tf.model({ inputs: input, outputs: y as never });
    const { step, reason } = compileTrainingStep(model, LOSS);
    expect(step).toBeNull();
    expect(reason).toMatch(/layer dilated \(Conv2D\): dilated convolutions/);
  });

  it('is off under NAS_GRAPH_STEP=0', () => {
    const saved = process.env.NAS_GRAPH_STEP;
    process.env.NAS_GRAPH_STEP = '0';
    try {
      expect(compileTrainingStep(buildArchModel(arch(), { seed: 1 }), LOSS)).toEqual({ step: null, reason: 'NAS_GRAPH_STEP=0' });
    } finally {
      if (saved === undefined) delete process.env.NAS_GRAPH_STEP;
      else process.env.NAS_GRAPH_STEP = saved;
    }
  });

  it('writes a saved_model.pb that tfjs-node reads back as a SavedModel with the serve tag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'graph-proto-'));
    try {
      writeFileSync(join(dir, 'saved_model.pb'), encodeSavedModel([{ name: 'x', op: 'Placeholder', inputs: [], attrs: { dtype: { type: 1 }, shape: { shape: [-1, 3] } } }]));
      const metaGraphs = await tf.node.getMetaGraphsFromSavedModel(dir);
      expect(metaGraphs.map((m) => m.tags)).toEqual([['serve']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
