/** The supernet's and the ProxylessNAS strategies' arithmetic on plain numbers: sampling, the update rules, latency and derivation. No tensors. */
import { archOfChoices, deriveArchitecture, expectedLatency, latencyPenalty, sampleGates, sampleWithoutReplacement, softmax } from '../../../../engine/supernet';
import { mulberry32 } from '../../../../core/random';
import { binaryConnectGradient, reinforceGradient, rescaleSubset, scoreFunction } from '../../../../plugins/builtin/proxyless-rules';
import { decisions, space } from '../../../support/supernet-fixtures';


/** Central finite differences of f at every logit of alpha. */
function finiteDifferences(f: (alpha: number[][]) => number, alpha: number[][], h = 1e-6): number[][] {
  return alpha.map((a, d) =>
    a.map((_, i) => {
      const plus = alpha.map((r) => r.slice());
      const minus = alpha.map((r) => r.slice());
      plus[d][i] += h;
      minus[d][i] -= h;
      return (f(plus) - f(minus)) / (2 * h);
    }),
  );
}

/** Pearson's chi-square statistic of observed counts against probabilities. */
function chiSquare(counts: number[], p: number[], n: number): number {
  return counts.reduce((s, c, i) => s + (c - n * p[i]) ** 2 / (n * p[i]), 0);
}

describe('gate sampling', () => {
  it('draws each option with frequency softmax(alpha) (chi-square over 4000 draws per op)', () => {
    const alpha = [
      [1, 0, -1, 0.5],
      [0, 0, 0, 0, 2],
      [-2, 0.3, 0.3, 1],
    ];
    const n = 4000;
    const counts = alpha.map((a) => a.map(() => 0));
    const rand = mulberry32(7);
    for (let t = 0; t < n; t++) sampleGates(alpha, rand).forEach((j, d) => counts[d][j]++);
    alpha.forEach((a, d) => {
      // df = 3 or 4; the 99.9% quantiles are 16.3 and 18.5. A fixed seed keeps the test stable.
      expect(chiSquare(counts[d], softmax(a), n)).toBeLessThan(18.5);
    });
  });
  it('samples distinct pairs whose first member follows p', () => {
    const p = softmax([1, 0, -1, 0.5]);
    const n = 4000;
    const first = p.map(() => 0);
    const rand = mulberry32(11);
    for (let t = 0; t < n; t++) {
      const pair = sampleWithoutReplacement(p, 2, rand);
      expect(new Set(pair).size).toBe(2);
      first[pair[0]]++;
    }
    expect(chiSquare(first, p, n)).toBeLessThan(16.3);
    expect(sampleWithoutReplacement([1], 2, rand)).toEqual([0]);
  });
});

describe('two-path update', () => {
  it('rescaling keeps the probabilities of unsampled paths exactly', () => {
    const before = [0.3, -1.2, 2.0, 0.7, -0.4];
    const pair = [1, 3];
    const grad = binaryConnectGradient(pair.map((i) => before[i]), [0.8, -0.5]);
    const after = before.slice();
    pair.forEach((i, j) => (after[i] -= 0.5 * grad[j]));
    const rescaled = rescaleSubset(before, after, pair);
    const p0 = softmax(before);
    const p1 = softmax(rescaled);
    for (const i of [0, 2, 4]) expect(Math.abs(p1[i] - p0[i])).toBeLessThan(1e-12);
    // The pair's total mass is kept and redistributed toward the path with the lower gate gradient.
    expect(p1[1] + p1[3]).toBeCloseTo(p0[1] + p0[3], 12);
    expect(p1[3]).toBeGreaterThan(p0[3]);
  });
  it('the BinaryConnect gradient over a pair is antisymmetric and ignores a common gate term', () => {
    const g = binaryConnectGradient([0.2, -0.1], [1.5, 0.5]);
    expect(g[0] + g[1]).toBeCloseTo(0, 15);
    const shifted = binaryConnectGradient([0.2, -0.1], [11.5, 10.5]);
    expect(shifted[0]).toBeCloseTo(g[0], 12);
  });
});

describe('REINFORCE', () => {
  it('plain SGD on the gradient is alpha += lr (R - b)(onehot(g) - p)', () => {
    const alpha = [[0.1, 0.4, -0.3], [0, 1]];
    const gates = [2, 0];
    const grad = reinforceGradient(alpha, gates, 0.25);
    alpha.forEach((a, d) => {
      const score = scoreFunction(a, gates[d]);
      score.forEach((s, i) => expect(-grad[d][i]).toBeCloseTo(0.25 * s, 15));
    });
  });
});

describe('expected latency', () => {
  it('has the analytic gradient p_i (F_i - E_op), equal to central finite differences', () => {
    const rand = mulberry32(5);
    const alpha = decisions.map((d) => d.options.map(() => rand() * 4 - 2));
    const table = decisions.map((d) => d.options.map(() => 0.1 + rand() * 3));
    const { expected, gradient } = expectedLatency(alpha, table, decisions);
    const fd = finiteDifferences((a) => expectedLatency(a, table, decisions).expected, alpha);
    fd.forEach((row, d) => row.forEach((g, i) => expect(Math.abs(g - gradient[d][i])).toBeLessThan(1e-7)));
    // The zero op is free whatever the table says.
    const zeroAt = decisions[1].options.indexOf('zero');
    const sure = alpha.map((a) => a.map(() => -50));
    sure.forEach((a) => (a[0] = 50));
    sure[1] = sure[1].map((_, j) => (j === zeroAt ? 50 : -50));
    const certain = expectedLatency(sure, table, decisions).expected;
    expect(certain).toBeCloseTo(table[0][0] + table[2][0] + table[3][0], 9);
  });
  it('rejects a table of the wrong shape with a message that says how to build one', () => {
    const alpha = decisions.map((d) => d.options.map(() => 0));
    expect(() => expectedLatency(alpha, [[1]], decisions)).toThrow(/decisionsOf/);
  });
});

describe('latency penalty', () => {
  it('without a target is lambda per ms', () => {
    expect(latencyPenalty(7, 0.1)).toEqual({ value: 0.1 * 7, slope: 0.1 });
  });
  it('with a target is lambda |LAT / T - 1| over the whole net (fixed ops included), penalising both sides', () => {
    const target = { ms: 10, fixedMs: 2 };
    expect(latencyPenalty(8, 0.5, target).value).toBeCloseTo(0, 12);
    expect(latencyPenalty(6, 0.5, target).value).toBeCloseTo(0.5 * 0.2, 12); // 20% faster than T
    expect(latencyPenalty(10, 0.5, target).value).toBeCloseTo(0.5 * 0.2, 12); // 20% slower
    expect(latencyPenalty(6, 0.5, target).slope).toBeLessThan(0);
    expect(latencyPenalty(10, 0.5, target).slope).toBeGreaterThan(0);
  });
  it('composed with E[LAT], its gradient slope * dE/dalpha equals central finite differences on either side of the target', () => {
    const rand = mulberry32(11);
    const alpha = decisions.map((d) => d.options.map(() => rand() * 4 - 2));
    const table = decisions.map((d) => d.options.map(() => 0.1 + rand() * 3));
    const opsMs = expectedLatency(alpha, table, decisions).expected;
    for (const targetMs of [opsMs * 0.7, opsMs * 1.4]) {
      const target = { ms: targetMs, fixedMs: 0.3 };
      const objective = (a: number[][]) => latencyPenalty(expectedLatency(a, table, decisions).expected, 0.5, target).value;
      const { gradient } = expectedLatency(alpha, table, decisions);
      const { slope } = latencyPenalty(opsMs, 0.5, target);
      finiteDifferences(objective, alpha).forEach((row, d) => row.forEach((g, i) => expect(Math.abs(g - slope * gradient[d][i])).toBeLessThan(1e-7)));
    }
  });
  it('rejects a target that is not a positive number of ms', () => {
    expect(() => latencyPenalty(1, 1, { ms: 0 })).toThrow(/positive/);
  });
});

describe('derivation', () => {
  it('keeps the argmax per op, drops zero ops and writes a valid ArchSpec', () => {
    const alpha = decisions.map((d) => d.options.map(() => 0));
    alpha[0][3] = 1; // k5 e2
    alpha[1][4] = 2; // zero: the block is skipped
    alpha[2][1] = 1; // k3 e2 no SE
    alpha[3][2] = 1; // k3 e3 SE
    const derived = deriveArchitecture(space, alpha, { numClasses: 3, inputChannels: 1, resolution: 8 });
    expect(derived.choices).toEqual([3, 4, 1, 2]);
    expect(decisions[1].options[4]).toBe('zero');
    expect(derived.arch.blocks.map((b) => [b.kernel, b.expansion, b.stride, b.outChannels, b.seRatio])).toEqual([
      [5, 2, 1, 4, 0.25],
      [3, 2, 2, 8, 0],
      [3, 3, 1, 8, 0.25],
    ]);
    expect(derived.entropy[0]).toBeLessThan(Math.log(4));
    derived.probabilities.forEach((p) => expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12));
    expect(archOfChoices(space, derived.choices, { numClasses: 3, inputChannels: 1, resolution: 8 })).toEqual(derived.arch);
  });
});
