/** The supernet with tensors: which weights a step touches, the architecture steps, derivation and resume. */
import type { Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../../../../engine/backend';
import { buildArchModel } from '../../../../engine/models/arch-model';
import { mulberry32 } from '../../../../core/random';
import { optionTag, softmax, Supernet, type SupernetOptions } from '../../../../engine/supernet';
import { proxylessGradient, proxylessReinforce, type ProxylessReinforceState } from '../../../../plugins/builtin/proxyless';
import { SearchSpaceSchema } from '../../../../dsl/search-space';
import { decisions, space, latencyTable as table, randomBatch as batch } from '../../../support/supernet-fixtures';

const tf = loadTf();

const gradient = (config: Record<string, unknown> = {}) => ({ plugin: proxylessGradient, config });
const reinforce = (config: Record<string, unknown> = {}) => ({ plugin: proxylessReinforce, config });

function make(o: Partial<SupernetOptions> = {}): Supernet {
  return new Supernet({ space, numClasses: 3, inputChannels: 1, seed: 1, strategy: gradient(), latencyTable: table, latencyWeight: 0.05, ...o });
}

function snapshot(net: Supernet): Map<string, Float32Array> {
  return new Map(net.allWeights().map((w) => [w.originalName, (w.read() as Tensor).dataSync() as Float32Array]));
}

const train = batch(1);
const valid = batch(2);

describe('supernet weight step', () => {
  it('changes stem, head and the active paths only, and leaks no tensors', async () => {
    const net = make();
    await net.weightStep(train); // creates the active paths' momentum slots
    const gates = net.weightGates();
    const before = snapshot(net);
    const report = await net.weightStep(train);
    expect(report.gates).toEqual(gates);
    expect(Number.isFinite(report.loss)).toBe(true);
    const after = snapshot(net);
    let activeKernels = 0;
    net.ops.forEach((op, d) =>
      op.paths.forEach((path, j) => {
        if (!path) return;
        for (const w of path.model.weights) {
          const same = Buffer.from(before.get(w.originalName)!.buffer).equals(Buffer.from(after.get(w.originalName)!.buffer));
          if (j !== gates[d]) expect({ w: w.originalName, same }).toEqual({ w: w.originalName, same: true });
          else if (/kernel$/.test(w.originalName)) {
            activeKernels++;
            expect({ w: w.originalName, same }).toEqual({ w: w.originalName, same: false });
          }
        }
      }),
    );
    expect(activeKernels).toBeGreaterThan(0);
    const stemKernel = net.allWeights().find((w) => w.originalName === 'stem_conv/kernel')!;
    expect(before.get(stemKernel.originalName)).not.toEqual(after.get(stemKernel.originalName));
    // A further step with the same paths active allocates nothing that outlives it.
    net.alpha = decisions.map((d) => d.options.map((_, j) => (j === gates[decisions.indexOf(d)] ? 60 : 0)));
    const settled = tf.memory().numTensors;
    await net.weightStep(train);
    expect(tf.memory().numTensors).toBe(settled);
    net.dispose();
  });
});

describe('supernet architecture step', () => {
  it('proxyless-gradient: updates only the sampled pair, keeping the other paths probabilities to 1e-9', async () => {
    const net = make();
    const rand = mulberry32(3);
    net.setAlpha(decisions.map((d) => d.options.map(() => rand() * 2 - 1)));
    await net.weightStep(train);
    for (let step = 0; step < 3; step++) {
      const before = net.probabilities();
      const logitsBefore = net.alpha.map((a) => a.slice());
      const tensors = tf.memory().numTensors;
      const report = await net.architectureStep(valid);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(Number.isFinite(report.loss!)).toBe(true);
      const after = net.probabilities();
      report.sampled.forEach((set, d) => {
        expect(set.length).toBe(2);
        expect(set).toContain(report.gates[d]);
        decisions[d].options.forEach((_, i) => {
          if (set.includes(i)) return;
          expect(Math.abs(after[d][i] - before[d][i])).toBeLessThan(1e-9);
          expect(net.alpha[d][i]).toBe(logitsBefore[d][i]);
        });
        const moved = Math.abs(after[d][set[0]] - before[d][set[0]]);
        expect(moved).toBeGreaterThan(0);
        expect(after[d][set[0]] + after[d][set[1]]).toBeCloseTo(before[d][set[0]] + before[d][set[1]], 9);
      });
      expect(report.expectedLatency).toBeCloseTo(net.expectedLatency().expected, 12);
    }
    net.dispose();
  });
  it('proxyless-gradient: a heavy latency weight lowers the expected latency step by step', async () => {
    const net = make({ latencyWeight: 10, strategy: gradient({ archLearningRate: 0.1 }) });
    const start = net.expectedLatency().expected;
    let last = start;
    for (let step = 0; step < 4; step++) {
      const report = await net.architectureStep(valid);
      expect(report.expectedLatency!).toBeLessThan(last);
      last = report.expectedLatency!;
    }
    expect(last).toBeLessThan(start);
    net.dispose();
  });
  it('proxyless-gradient with a latency target: steps raise E[LAT] while below the target and lower it while above', async () => {
    const opsMs = make().expectedLatency().expected;
    for (const [targetMs, direction] of [
      [opsMs * 1.5, 1],
      [opsMs * 0.5, -1],
    ] as const) {
      const net = make({ latencyWeight: 50, latencyTarget: { ms: targetMs }, strategy: gradient({ archLearningRate: 0.1 }) });
      let last = net.expectedLatency().expected;
      for (let step = 0; step < 3; step++) {
        const report = await net.architectureStep(valid);
        expect(Math.sign(report.expectedLatency! - last)).toBe(direction);
        last = report.expectedLatency!;
      }
      net.dispose();
    }
  });
  it('proxyless-reinforce with a latency target: the reward is accuracy - lambda |LAT / T - 1| of the sampled net', async () => {
    const target = { ms: 3, fixedMs: 0.5 };
    const net = make({ strategy: reinforce(), latencyWeight: 0.4, latencyTarget: target });
    for (let step = 0; step < 3; step++) {
      const report = await net.architectureStep(valid);
      const lat = report.gates.reduce((s, j, d) => s + (decisions[d].options[j] === 'zero' ? 0 : table[d][j]), 0);
      expect(report.reward!).toBeCloseTo(report.accuracy! - 0.4 * Math.abs((lat + 0.5) / 3 - 1), 12);
    }
    net.dispose();
  });
  it('runs a decision with a single option under its gate and learns nothing there', async () => {
    const narrow = SearchSpaceSchema.parse({ ...space, stages: [{ channels: 4, repeats: 1, stride: 1, kernels: [3], expansions: [1] }, space.stages[1]] });
    const net = new Supernet({ space: narrow, numClasses: 3, inputChannels: 1, seed: 1, strategy: gradient({ archLearningRate: 0.1 }) });
    for (let step = 0; step < 2; step++) {
      const report = await net.architectureStep(valid);
      expect(report.sampled[0]).toEqual([0]);
      expect(report.signal.type === 'gradient' && report.signal.gateGradients[0].length).toBe(1);
      expect(net.alpha[0]).toEqual([0]);
      expect(net.alpha[1].some((a) => a !== 0)).toBe(true);
    }
    net.dispose();
  });
  it('rejects a latency target that is not a positive number of ms when built', () => {
    expect(() => make({ latencyTarget: { ms: -1 } })).toThrow(/latency target/);
  });
  it('proxyless-reinforce: moves alpha toward the sampled architecture when it beats the baseline', async () => {
    const lr = 0.5;
    const net = make({ strategy: reinforce({ archLearningRate: lr }) });
    const first = await net.architectureStep(valid);
    // The first reward seeds the baseline: no advantage, no move.
    expect(net.alpha.flat().every((a) => a === 0)).toBe(true);
    const state = net.architecture.strategy as ProxylessReinforceState;
    expect(state.baseline).toBeCloseTo(first.reward!, 12);
    const baseline = first.reward! - 1; // pretend the next sample is much better than average
    net.architecture = { ...net.architecture, strategy: { ...state, baseline } };
    const p0 = net.probabilities();
    const report = await net.architectureStep(valid);
    const advantage = report.reward! - baseline;
    expect(advantage).toBeGreaterThan(0);
    report.gates.forEach((g, d) => {
      // Adam with beta1 = 0 at its second step (the first counted, with a zero gradient): the step is
      // lr g / sqrt(v^), v^ = 0.001 g^2 / (1 - 0.999^2), for the REINFORCE gradient g = -(R - b)(onehot - p).
      const expected = p0[d].map((p, i) => {
        const grad = -advantage * ((i === g ? 1 : 0) - p);
        return (-lr * grad) / (Math.sqrt((0.001 * grad * grad) / (1 - 0.999 ** 2)) + 1e-8);
      });
      net.alpha[d].forEach((a, i) => expect(a).toBeCloseTo(expected[i], 12));
      expect(softmax(net.alpha[d])[g]).toBeGreaterThan(p0[d][g]);
    });
    net.dispose();
  });
});

describe('supernet derivation', () => {
  it('derives the argmax as an ArchSpec that buildArchModel builds with the chosen paths parameters', () => {
    const net = make();
    const choices = [2, 4, 3, 1];
    net.setAlpha(decisions.map((d, i) => d.options.map((_, j) => (j === choices[i] ? 1 : 0))));
    const derived = net.derive();
    expect(derived.choices).toEqual(choices);
    const model = buildArchModel(derived.arch, { inferenceOnly: true });
    expect(model.outputs[0].shape).toEqual([null, 3]);
    const count = (ws: { shape: readonly (number | null)[] }[]) => ws.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    const pieces = net.ops.map((op, d) => op.paths[choices[d]]?.model.weights ?? []).flat();
    const stemHead = net.allWeights().filter((w) => /^(stem|head|predictions)_?/.test(w.originalName));
    expect(count(model.weights)).toBe(count(pieces) + count(stemHead));
    model.dispose();
    net.dispose();
  });

  it('with a latency target derives the most likely net that meets it, and the argmax once the argmax does', () => {
    const costliest = decisions.map((d, i) => d.options.reduce((best, o, j) => (o !== 'zero' && table[i][j] > table[i][best] ? j : best), 0));
    const alpha = decisions.map((d, i) => d.options.map((_, j) => (j === costliest[i] ? 0.3 : 0)));
    const opsMs = (choices: readonly number[]) => choices.reduce((s, j, d) => s + (decisions[d].options[j] === 'zero' ? 0 : table[d][j]), 0);
    const argmaxMs = opsMs(costliest);
    const target = { ms: 2 + 0.6 * argmaxMs, fixedMs: 2 };

    const budgeted = make({ latencyWeight: 0.5, latencyTarget: target });
    budgeted.setAlpha(alpha);
    const derived = budgeted.derive();
    expect(derived.budget).toMatchObject({ budgetMs: target.ms - target.fixedMs, withinBudget: true });
    expect(derived.budget!.costMs).toBeCloseTo(opsMs(derived.choices), 12);
    expect(opsMs(derived.choices)).toBeLessThanOrEqual(target.ms - target.fixedMs);
    expect(derived.choices).not.toEqual(costliest);

    // A generous target, or no latency term at all, leaves the argmax as it is.
    const generous = make({ latencyWeight: 0.5, latencyTarget: { ms: 2 + argmaxMs, fixedMs: 2 } });
    generous.setAlpha(alpha);
    expect(generous.derive().choices).toEqual(costliest);
    const plain = make({ latencyWeight: 0, latencyTarget: target });
    plain.setAlpha(alpha);
    expect(plain.derive()).not.toHaveProperty('budget');
    expect(plain.derive().choices).toEqual(costliest);
    [budgeted, generous, plain].forEach((n) => n.dispose());
  });
});

describe('supernet checkpoint', () => {
  it('restores weights, slots, alpha, baseline and RNG position so training continues identically', async () => {
    const run = async (net: Supernet, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        out.push((await net.weightStep(train)).loss);
        out.push((await net.architectureStep(valid)).loss!);
      }
      return out;
    };
    const a = make();
    await run(a, 2);
    const bytes = await a.checkpoint();
    const straight = await run(a, 2);
    // A different seed: the restored seed must win, for the weights and for the gate streams.
    const b = make({ seed: 99 });
    await b.restore(bytes);
    const resumed = await run(b, 2);
    expect(resumed).toEqual(straight);
    expect(b.alpha).toEqual(a.alpha);
    expect([b.weightSteps, b.archSteps]).toEqual([a.weightSteps, a.archSteps]);
    const wa = snapshot(a);
    const wb = snapshot(b);
    for (const [name, v] of wa) expect({ name, same: Buffer.from(v.buffer).equals(Buffer.from(wb.get(name)!.buffer)) }).toEqual({ name, same: true });
    const other = new Supernet({ space: { ...space, head: { ...space.head, channels: 16 } }, numClasses: 3, inputChannels: 1 });
    await expect(other.restore(bytes)).rejects.toThrow(/different search space/);
    [a, b, other].forEach((n) => n.dispose());
  });
});

describe('supernet BatchNorm recalibration', () => {
  const statsOf = (net: Supernet, layer: string) => {
    const w = new Map(net.allWeights().map((v) => [v.originalName, v]));
    return {
      mean: Array.from((w.get(`${layer}/moving_mean`)!.read() as Tensor).dataSync()),
      variance: Array.from((w.get(`${layer}/moving_variance`)!.read() as Tensor).dataSync()),
    };
  };
  const kernel = (net: Supernet) => net.allWeights().find((w) => w.originalName === 'stem_conv/kernel')!.read() as Tensor;

  it('sets the stem statistics to those of the calibration batch (biased variance, as BatchNorm uses)', async () => {
    const net = make({ bn: { momentum: 0.99, epsilon: 1e-3 } });
    await net.weightStep(train);
    const x = batch(7, 8).xs;
    net.recalibrateBatchNorm([x]);
    const { mean, variance } = tf.tidy(() => tf.moments(tf.conv2d(x as Parameters<typeof tf.conv2d>[0], kernel(net) as Parameters<typeof tf.conv2d>[1], 1, 'same'), [0, 1, 2]));
    const got = statsOf(net, 'stem_bn');
    got.mean.forEach((m, c) => expect(m).toBeCloseTo(mean.dataSync()[c], 5));
    got.variance.forEach((v, c) => expect(v).toBeCloseTo(variance.dataSync()[c], 5));
    net.dispose();
  });

  it('averages the batch statistics of several batches equally, whatever the layers momentum', () => {
    const x1 = batch(11, 5).xs;
    const x2 = batch(12, 5).xs;
    const twoBatches = make({ bn: { momentum: 0.99, epsilon: 1e-3 } });
    const oneBatch = make({ bn: { momentum: 0.99, epsilon: 1e-3 } });
    twoBatches.recalibrateBatchNorm([x1, x2]);
    oneBatch.recalibrateBatchNorm([tf.concat([x1, x2])]);
    // The stem's input is the data, so the mean over both batches equals the mean of their means.
    const a = statsOf(twoBatches, 'stem_bn').mean;
    const b = statsOf(oneBatch, 'stem_bn').mean;
    a.forEach((m, c) => expect(m).toBeCloseTo(b[c], 5));
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(1e-3);
    [twoBatches, oneBatch].forEach((n) => n.dispose());
  });

  it('moves only the moving statistics of the stem, the chosen paths and the head, and leaks no tensors', async () => {
    const net = make();
    await net.weightStep(train);
    const choices = [1, 4, 2, 0]; // s1b2 skipped: its zero op has no weights
    const onPath = new RegExp(`^(stem|head|${decisions.map((d, i) => `${d.id}_${optionTag(d.options[choices[i]])}`).join('|')})_`);
    const before = snapshot(net);
    const inputs = [batch(21).xs, batch(22).xs];
    const tensors = tf.memory().numTensors;
    net.recalibrateBatchNorm(inputs, choices);
    expect(tf.memory().numTensors).toBe(tensors);
    const changed = [...snapshot(net)].filter(([name, v]) => !Buffer.from(v.buffer).equals(Buffer.from(before.get(name)!.buffer))).map(([name]) => name);
    expect(changed.length).toBeGreaterThan(0);
    for (const name of changed) expect({ name, movingStatistic: /moving_(mean|variance)$/.test(name), onPath: onPath.test(name) }).toEqual({ name, movingStatistic: true, onPath: true });
    // Every BatchNorm on the path moved.
    const pathStats = [...before.keys()].filter((n) => /moving_mean$/.test(n) && onPath.test(n));
    expect(changed.filter((n) => /moving_mean$/.test(n)).sort()).toEqual(pathStats.sort());
    net.dispose();
  });
});
