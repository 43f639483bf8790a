/**
 * The supernet epoch on its own, without Temporal or a store: which steps run when, where
 * checkpoints fall, and that an epoch resumed from any checkpoint (mid-epoch, or one from the epoch
 * before) ends with the same logits, architecture and score as one that never stopped.
 */
import { splitIndices } from '../../../../engine/data/split';
import { Supernet } from '../../../../engine/supernet';
import { SUPERNET_BATCH_NORM, SupernetTrainer, type EpochHooks, type SupernetEpochResult, type SupernetTrainingSettings } from '../../../../engine/supernet/trainer';
import { proxylessGradient } from '../../../../plugins/builtin/proxyless';
import { quadrants } from '../../../support/quadrants';
import { space } from '../../../support/supernet-fixtures';

const data = quadrants(40);
// 30 training images in batches of 8: 4 weight steps an epoch; 10 validation images.
const split = splitIndices(data.train.count, 0.25, 3);
const settings: SupernetTrainingSettings = { seed: 3, epochs: 2, warmupEpochs: 0, batchSize: 8, learningRate: 0.05 };

const nets: Supernet[] = [];
afterAll(() => nets.forEach((n) => n.dispose()));

function trainer(config: Record<string, unknown> = {}, o: Partial<SupernetTrainingSettings> = {}): SupernetTrainer {
  const net = new Supernet({ space, numClasses: 4, inputChannels: 1, seed: 3, strategy: { plugin: proxylessGradient, config: { archLearningRate: 0.1, ...config } }, bn: SUPERNET_BATCH_NORM });
  nets.push(net);
  return new SupernetTrainer(net, data, split, { ...settings, ...o });
}

/** What an epoch decided: equal for two runs of the same search. */
const outcome = (t: SupernetTrainer, r: SupernetEpochResult) => ({
  alpha: t.net.alpha,
  choices: r.derived.choices,
  validationAccuracy: r.validationAccuracy,
  steps: [t.net.weightSteps, t.net.archSteps],
});

/** Checkpoint bytes by the step they were taken at. */
function saving(t: SupernetTrainer, everySteps: number, into: Map<number, Uint8Array>): NonNullable<EpochHooks['checkpoint']> {
  return { everySteps, save: async () => void into.set(t.net.weightSteps, await t.net.checkpoint()) };
}

test('warm-up epochs run weight steps only; after them, one architecture step per weightStepsPerArchStep weight steps', async () => {
  const t = trainer({ weightStepsPerArchStep: 2 }, { warmupEpochs: 1 });
  expect(t.stepsPerEpoch).toBe(4);
  const seen: number[][] = [];
  const onStep: EpochHooks['onStep'] = (p) => seen.push([p.epoch, p.step, t.net.archSteps]);
  await t.trainEpoch(0, { onStep });
  await t.trainEpoch(1, { onStep });
  // [epoch, weight steps, architecture steps] after each step: architecture steps after steps 6 and 8.
  expect(seen).toEqual([[0, 1, 0], [0, 2, 0], [0, 3, 0], [0, 4, 0], [1, 5, 0], [1, 6, 1], [1, 7, 1], [1, 8, 2]]);
});

test('checkpoints fall every N steps counted from where the epoch resumed, and once at its end', async () => {
  const t = trainer();
  const saved = new Map<number, Uint8Array>();
  await t.trainEpoch(0, { checkpoint: saving(t, 3, saved) });
  expect([...saved.keys()]).toEqual([3, 4]);
  saved.clear();
  await t.trainEpoch(1, { checkpoint: saving(t, 3, saved) });
  expect([...saved.keys()]).toEqual([7, 8]);
});

describe('a resumed epoch ends as an uninterrupted one', () => {
  let straight: ReturnType<typeof outcome>;
  let epoch1Losses: number[];
  const saved = new Map<number, Uint8Array>();

  beforeAll(async () => {
    const t = trainer();
    await t.trainEpoch(0, { checkpoint: saving(t, 2, saved) });
    const losses: number[] = [];
    const r = await t.trainEpoch(1, { checkpoint: saving(t, 2, saved), onStep: (p) => losses.push(p.loss) });
    straight = outcome(t, r);
    epoch1Losses = losses;
    expect(r.meanLoss).toBeCloseTo(losses.reduce((a, b) => a + b) / 4, 12);
  });

  test('from a checkpoint inside the epoch', async () => {
    const t = trainer();
    await t.net.restore(saved.get(6)!);
    const r = await t.trainEpoch(1);
    expect(outcome(t, r)).toEqual(straight);
    expect(r.resumedFromStep).toBe(6);
    // Only the steps this call ran count towards the mean loss.
    expect(r.meanLoss).toBeCloseTo((epoch1Losses[2] + epoch1Losses[3]) / 2, 12);
  });

  test("from the epoch before's: its lost steps are trained again under their own epoch, and do not count in the loss", async () => {
    const t = trainer();
    await t.net.restore(saved.get(2)!);
    const epochs: number[] = [];
    const r = await t.trainEpoch(1, { onStep: (p) => epochs.push(p.epoch) });
    expect(epochs).toEqual([0, 0, 1, 1, 1, 1]);
    expect(outcome(t, r)).toEqual(straight);
    expect(r.meanLoss).toBeCloseTo(epoch1Losses.reduce((a, b) => a + b) / 4, 12);
  });

  test('from the checkpoint at its end: nothing to train, the same architecture and score', async () => {
    const t = trainer();
    await t.net.restore(saved.get(8)!);
    const r = await t.trainEpoch(1);
    expect(r.meanLoss).toBeUndefined();
    expect(outcome(t, r)).toEqual(straight);
  });

  test('a supernet already past the epoch is refused', async () => {
    const t = trainer();
    await t.net.restore(saved.get(8)!);
    await expect(t.trainEpoch(0)).rejects.toThrow('epoch 0 ends at supernet step 4, but the supernet is already at step 8');
  });
});

test('an aborted epoch stops after the current step, takes its closing checkpoint, and throws the reason', async () => {
  const t = trainer();
  const abort = new AbortController();
  const saved = new Map<number, Uint8Array>();
  const reason = new Error('cancelled by the test');
  const run = t.trainEpoch(0, { signal: abort.signal, checkpoint: saving(t, 100, saved), onStep: (p) => p.step === 2 && abort.abort(reason) });
  await expect(run).rejects.toBe(reason);
  expect(t.net.weightSteps).toBe(2);
  expect([...saved.keys()]).toEqual([2]);
});

test('the evaluation reports each recalibration and validation batch', async () => {
  const t = trainer();
  let batches = 0;
  const r = await t.trainEpoch(0, { onEvaluationBatch: () => batches++ });
  // 30 calibration images and 10 validation images, in batches of 8.
  expect(batches).toBe(4 + 2);
  expect(r.validationAccuracy * 10).toBeCloseTo(Math.round(r.validationAccuracy * 10), 12);
  expect(r.derived.choices).toHaveLength(r.derived.entropy.length);
});

test('a search without a validation split is refused', () => {
  const net = new Supernet({ space, numClasses: 4, inputChannels: 1, strategy: { plugin: proxylessGradient } });
  nets.push(net);
  expect(() => new SupernetTrainer(net, data, splitIndices(data.train.count, 0, 3), settings)).toThrow(/needs a validation split/);
});
