import type { Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../../../../engine/backend';
import type { ArchSpecInput } from '../../../../engine/arch/spec';
import type { ImageDataset } from '../../../../engine/data/dataset';
import { mulberry32 } from '../../../../core/random';
import { buildArchModel } from '../../../../engine/models/arch-model';
import { ClassifierTrainer, type TrainerOptions, type TrainPosition } from '../../../../engine/train/classifier-trainer';
import { learningRateAt, type ScheduleSpec } from '../../../../engine/train/schedule';
import { evaluateClassifier, type EvaluationTally } from '../../../../engine/train/evaluate';

const tf = loadTf();

/** 8x8 grey images whose class is the bright quadrant: learnable by a tiny net in a few steps. */
function quadrants(count: number, seed: number): ImageDataset {
  const rand = mulberry32(seed);
  const make = (n: number) => {
    const images = new Uint8Array(n * 64);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const label = i % 4;
      labels[i] = label;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
        const q = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1);
        images[i * 64 + y * 8 + x] = Math.floor((q === label ? 160 : 40) + rand() * 60);
      }
    }
    return { images, labels, count: n };
  };
  return { name: 'quadrants', height: 8, width: 8, channels: 1, numClasses: 4, classNames: ['a', 'b', 'c', 'd'], train: make(count), test: make(16) };
}

const ARCH: ArchSpecInput = {
  name: 'tiny',
  resolution: 8,
  inputChannels: 1,
  numClasses: 4,
  stem: { channels: 8, kernel: 3, stride: 1 },
  blocks: [
    { expansion: 2, kernel: 3, stride: 1, outChannels: 8, seRatio: 0.25 },
    { expansion: 2, kernel: 3, stride: 2, outChannels: 12, seRatio: 0.25 },
  ],
  headChannels: 16,
  dropout: 0.3,
  dropConnect: 0.9,
  batchNorm: { momentum: 0.9, epsilon: 1e-3 },
};

describe('learning-rate schedules', () => {
  const base: ScheduleSpec = { kind: 'cosine', baseRate: 1, totalSteps: 110, warmupSteps: 10, minRate: 0, decaySteps: 20, decayFactor: 0.5 };
  it('warms up linearly, then follows cosine or step decay by global step', () => {
    expect(learningRateAt(base, 0)).toBeCloseTo(0.1);
    expect(learningRateAt(base, 9)).toBeCloseTo(1);
    expect(learningRateAt(base, 10)).toBeCloseTo(1);
    expect(learningRateAt(base, 60)).toBeCloseTo(0.5);
    expect(learningRateAt(base, 110)).toBeCloseTo(0);
    const step = { ...base, kind: 'step' as const };
    expect([learningRateAt(step, 29), learningRateAt(step, 30), learningRateAt(step, 50)]).toEqual([1, 0.5, 0.25]);
    expect(learningRateAt({ ...base, kind: 'constant', warmupSteps: 0 }, 77)).toBe(1);
  });
});

describe('ClassifierTrainer', () => {
  const options: TrainerOptions = {
    epochs: 3,
    batchSize: 8,
    learningRate: 0.05,
    optimizer: 'rmsprop',
    momentum: 0.9,
    seed: 11,
    schedule: 'cosine',
    warmupSteps: 3,
    labelSmoothing: 0.1,
    weightDecay: 1e-4,
    validationFraction: 0.25,
    earlyStoppingPatience: 10,
    augment: { padding: 1, flip: true },
  };
  const data = quadrants(40, 3);

  async function weightsOf(t: ClassifierTrainer): Promise<Float32Array[]> {
    return Promise.all(t.model.weights.map(async (w) => new Float32Array(await (w.read() as Tensor).data())));
  }

  it('resumed from a checkpoint, ends bit-identical to an uninterrupted run', async () => {
    const straight = new ClassifierTrainer(buildArchModel(ARCH, { seed: 2 }), data, options);
    expect([straight.stepsPerEpoch, straight.totalSteps]).toEqual([4, 12]);
    const saved = new Map<number, Uint8Array>();
    const losses: number[] = [];
    await straight.train({
      checkpointEverySteps: 1,
      onCheckpoint: async (bytes: Uint8Array, p: TrainPosition) => void saved.set(p.globalStep, bytes),
      onStep: (r) => void losses.push(r.loss),
    });
    expect(losses.every(Number.isFinite)).toBe(true);

    // Mid-epoch (step 6 of 12), so data order, augmentation, masks and the schedule all resume mid-way.
    const resumed = new ClassifierTrainer(buildArchModel(ARCH, { seed: 99 }), data, options);
    await resumed.restore(saved.get(6)!);
    expect(resumed.position).toEqual({ epoch: 1, stepInEpoch: 2, globalStep: 6 });
    const resumedLosses: number[] = [];
    await resumed.train({ checkpointEverySteps: 100, onCheckpoint: async () => undefined, onStep: (r) => void resumedLosses.push(r.loss) });

    expect(resumedLosses).toEqual(losses.slice(6));
    const a = await weightsOf(straight);
    const b = await weightsOf(resumed);
    a.forEach((w, i) => expect(Buffer.from(b[i].buffer).equals(Buffer.from(w.buffer))).toBe(true));
    expect(resumed.validation).toEqual(straight.validation);
    expect(straight.validation.history).toHaveLength(3);
    straight.model.dispose();
    resumed.model.dispose();
  });

  it('refuses a checkpoint from a differently defined run', async () => {
    const t = new ClassifierTrainer(buildArchModel(ARCH, { seed: 2 }), data, options);
    const bytes = await t.checkpoint();
    const other = new ClassifierTrainer(buildArchModel(ARCH, { seed: 2 }), data, { ...options, validationFraction: 0.5 });
    await expect(other.restore(bytes)).rejects.toThrow(/validationFraction was 0.25, now 0.5/);
    t.model.dispose();
    other.model.dispose();
  });

  it('stops early after `patience` epochs without a better validation accuracy', async () => {
    // No BatchNorm and a zero learning rate: validation accuracy cannot change after epoch 0.
    const model = tf.sequential({
      name: 'flat',
      layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })],
    });
    const t = new ClassifierTrainer(model, data, { ...options, learningRate: 0, optimizer: 'momentum', epochs: 10, earlyStoppingPatience: 2, warmupSteps: 0 });
    const epochs: number[] = [];
    await t.train({ checkpointEverySteps: 100, onCheckpoint: async () => undefined, onEpoch: (r) => void epochs.push(r.epoch) });
    expect(epochs).toEqual([0, 1, 2]);
    expect(t.validation).toMatchObject({ stoppedEarly: true, bestEpoch: 0, epochsWithoutImprovement: 2 });
    expect(t.done).toBe(true);
    model.dispose();
  });

  it('learns the toy task with momentum SGD and a step schedule, without a validation split', async () => {
    const model = buildArchModel({ ...ARCH, dropConnect: 0, dropout: 0 }, { seed: 4 });
    const t = new ClassifierTrainer(model, quadrants(64, 5), { epochs: 8, batchSize: 16, learningRate: 0.1, optimizer: 'momentum', momentum: 0.9, seed: 1, schedule: 'step', decayEveryEpochs: 4, decayFactor: 0.5 });
    await t.train({ checkpointEverySteps: 1000, onCheckpoint: async () => undefined });
    expect(t.learningRate(t.totalSteps - 1)).toBeCloseTo(0.05);
    expect(t.evaluate('train').accuracy).toBeGreaterThan(0.8);
    model.dispose();
  });
});

describe('evaluateClassifier', () => {
  it('resumed from the tally of an interrupted pass, with another batch size, ends with the uninterrupted counts', () => {
    const data = quadrants(40, 5);
    const model = buildArchModel(ARCH, { seed: 2 });
    try {
      const whole = evaluateClassifier(model, data, data.train, { batchSize: 7 });
      let cut: EvaluationTally | undefined;
      evaluateClassifier(model, data, data.train, {
        batchSize: 7,
        onBatch: (done, _total, tally) => {
          if (done === 21) cut = tally;
        },
      });
      expect(cut!.done).toBe(21);
      const resumed = evaluateClassifier(model, data, data.train, { batchSize: 5, from: cut });
      expect(resumed.count).toBe(40);
      expect(resumed.accuracy).toBe(whole.accuracy);
      expect(resumed.perClassAccuracy).toEqual(whole.perClassAccuracy);
      expect(resumed.loss).toBeCloseTo(whole.loss, 5);
      // A finished tally leaves nothing to compute.
      const ended: EvaluationTally[] = [];
      evaluateClassifier(model, data, data.train, { onBatch: (_d, _t, tally) => void ended.push(tally) });
      const nothingLeft = () => {
        throw new Error('a finished tally left a batch to compute');
      };
      expect(evaluateClassifier(model, data, data.train, { from: ended[ended.length - 1], onBatch: nothingLeft }).accuracy).toBe(whole.accuracy);
      expect(() => evaluateClassifier(model, data, data.train, { from: { ...cut!, done: 41 } })).toThrow(/does not fit this pass/);
    } finally {
      model.dispose();
    }
  });
});
