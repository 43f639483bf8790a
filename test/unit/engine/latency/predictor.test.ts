/**
 * The calibrated latency predictor on synthetic nets whose true predictor is known, so a fit that
 * drifts, a fold that leaks its own sample, or a statistic computed the wrong way shows up as a
 * number off by more than noise. The check statistics are pinned on cases small enough to do by hand.
 */
import { mulberry32 } from '../../../../core/random';
import {
  checkPredictions,
  crossValidatedPredictions,
  fitPredictor,
  opCostMs,
  PLAIN_SUM,
  predictMs,
  spearman,
  type CalibrationSample,
  type LatencyPredictor,
  type NetFeatures,
} from '../../../../engine/latency/predictor';

/** A per-op table that over-counts dispatch (perOp < 0) and misses a fixed per-inference overhead. */
const TRUE: LatencyPredictor = { intercept: 2, perTableMs: 0.9, perOp: -0.04, perMmac: 0.002 };

/**
 * Nets of 10..60 ops, each op 0.1..2 ms and 1..10 MMACs times a per-net scale for each (nets at
 * other resolutions and widths), measured as TRUE says times (1 +- noise). Without the per-net
 * scales, tableMs, ops and mmacs all grow with the op count alone and the ridge may legitimately
 * trade one coefficient for another.
 */
function syntheticNets(n: number, noise: number, seed = 1, truth = TRUE): CalibrationSample[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const ops = 10 + Math.floor(rand() * 51);
    const msScale = 0.2 + 1.8 * rand();
    const macScale = 0.2 + 1.8 * rand();
    let tableMs = 0;
    let mmacs = 0;
    for (let i = 0; i < ops; i++) {
      tableMs += msScale * (0.1 + 1.9 * rand());
      mmacs += macScale * (1 + 9 * rand());
    }
    const features: NetFeatures = { tableMs, ops, mmacs };
    return { features, measuredMs: predictMs(truth, features) * (1 + noise * (2 * rand() - 1)) };
  });
}

test('the plain sum predicts the table sum', () => {
  expect(predictMs(PLAIN_SUM, { tableMs: 12.5, ops: 40, mmacs: 300 })).toBe(12.5);
  expect(predictMs({ intercept: 1, perTableMs: 2, perOp: 0.5, perMmac: 0.01 }, { tableMs: 3, ops: 4, mmacs: 100 })).toBeCloseTo(1 + 6 + 2 + 1, 12);
});

describe('fitPredictor', () => {
  test('recovers the coefficients exactly from noiseless nets without a ridge', () => {
    const p = fitPredictor(syntheticNets(40, 0), { ridge: 0 });
    expect(p.intercept).toBeCloseTo(TRUE.intercept, 8);
    expect(p.perTableMs).toBeCloseTo(TRUE.perTableMs, 8);
    expect(p.perOp).toBeCloseTo(TRUE.perOp, 8);
    expect(p.perMmac).toBeCloseTo(TRUE.perMmac, 8);
  });

  test('recovers the coefficients from nets with 1% multiplicative noise under the default ridge', () => {
    const samples = syntheticNets(200, 0.01);
    const p = fitPredictor(samples);
    expect(Math.abs(p.intercept - TRUE.intercept)).toBeLessThan(0.1);
    expect(Math.abs(p.perTableMs - TRUE.perTableMs)).toBeLessThan(0.01);
    expect(Math.abs(p.perOp - TRUE.perOp)).toBeLessThan(0.005);
    expect(Math.abs(p.perMmac - TRUE.perMmac)).toBeLessThan(0.0002);
    // And predicts within the noise, while the plain sum is far off.
    const fitted = checkPredictions(samples.map((s) => predictMs(p, s.features)), samples.map((s) => s.measuredMs));
    const plain = checkPredictions(samples.map((s) => predictMs(PLAIN_SUM, s.features)), samples.map((s) => s.measuredMs));
    expect(fitted.within10).toBe(1);
    expect(fitted.medianError).toBeLessThan(0.01);
    expect(Math.abs(plain.meanBias)).toBeGreaterThan(0.05);
  });

  test('minimises relative, not absolute, error: one slow net does not own the fit', () => {
    // Nine small nets follow TRUE; one net 100x larger follows a plain sum. An unweighted fit bends to the big net.
    const small = syntheticNets(9, 0, 3);
    const bigFeatures: NetFeatures = { tableMs: 100 * small[0].features.tableMs, ops: 50, mmacs: 100 * small[0].features.mmacs };
    const samples = [...small, { features: bigFeatures, measuredMs: bigFeatures.tableMs }];
    const p = fitPredictor(samples);
    const smallErrors = small.map((s) => Math.abs(predictMs(p, s.features) - s.measuredMs) / s.measuredMs);
    expect(Math.max(...smallErrors)).toBeLessThan(0.1);
  });

  test('is unit-free: scaling every latency by 1000 scales the intercept and keeps the slopes', () => {
    const samples = syntheticNets(30, 0.02, 5);
    const scaled = samples.map((s) => ({ features: { ...s.features, tableMs: 1000 * s.features.tableMs }, measuredMs: 1000 * s.measuredMs }));
    const p = fitPredictor(samples);
    const q = fitPredictor(scaled);
    expect(q.intercept / 1000).toBeCloseTo(p.intercept, 6);
    expect(q.perTableMs).toBeCloseTo(p.perTableMs, 8);
    expect(q.perOp / 1000).toBeCloseTo(p.perOp, 8);
    expect(q.perMmac / 1000).toBeCloseTo(p.perMmac, 10);
  });

  test('the ridge keeps a fit on collinear features stable, which a plain solve refuses', () => {
    // Every op costs 0.5 ms in the table, so ops = 2 * tableMs on every net.
    const rand = mulberry32(7);
    const samples: CalibrationSample[] = Array.from({ length: 20 }, () => {
      const ops = 10 + Math.floor(rand() * 51);
      const features = { tableMs: 0.5 * ops, ops, mmacs: 5 * ops * (0.5 + rand()) };
      return { features, measuredMs: predictMs(TRUE, features) };
    });
    expect(() => fitPredictor(samples, { ridge: 0 })).toThrow(/collinear/);
    const p = fitPredictor(samples);
    for (const c of [p.intercept, p.perTableMs, p.perOp, p.perMmac]) expect(Number.isFinite(c)).toBe(true);
    for (const s of samples) expect(Math.abs(predictMs(p, s.features) / s.measuredMs - 1)).toBeLessThan(0.01);
  });

  test('a feature that never varies gets no coefficient', () => {
    const samples = syntheticNets(20, 0.01, 11).map((s) => ({ ...s, features: { ...s.features, mmacs: 250 } }));
    expect(fitPredictor(samples).perMmac).toBe(0);
  });

  test('refuses too few nets and measurements that are not positive and finite', () => {
    const good = syntheticNets(6, 0.01);
    expect(() => fitPredictor(good.slice(0, 4))).toThrow(/4 calibration net\(s\) given, need at least 5/);
    expect(() => fitPredictor([])).toThrow(/need at least 5/);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const samples = good.map((s, i) => (i === 2 ? { ...s, measuredMs: bad } : s));
      expect(() => fitPredictor(samples)).toThrow(/sample 2 has measuredMs/);
    }
    const nanFeature = good.map((s, i) => (i === 1 ? { ...s, features: { ...s.features, tableMs: Number.NaN } } : s));
    expect(() => fitPredictor(nanFeature)).toThrow(/sample 1 has a non-finite feature tableMs/);
    expect(() => fitPredictor(good, { ridge: -1 })).toThrow(/ridge/);
  });
});

describe('crossValidatedPredictions', () => {
  test('each net is predicted by the fit on the other folds (i % k)', () => {
    const samples = syntheticNets(23, 0.03, 13);
    const predicted = crossValidatedPredictions(samples, { folds: 4 });
    expect(predicted).toHaveLength(23);
    for (let fold = 0; fold < 4; fold++) {
      const p = fitPredictor(samples.filter((_, i) => i % 4 !== fold));
      samples.forEach((s, i) => {
        if (i % 4 === fold) expect(predicted[i]).toBeCloseTo(predictMs(p, s.features), 10);
      });
    }
  });

  test('an outlier is not predicted near its own value, while the in-sample fit is pulled toward it', () => {
    const samples = syntheticNets(20, 0, 17);
    const outlier = 3;
    const truth = samples[outlier].measuredMs;
    samples[outlier] = { ...samples[outlier], measuredMs: 10 * truth };
    const held = crossValidatedPredictions(samples)[outlier];
    expect(held / truth).toBeGreaterThan(0.8);
    expect(held / truth).toBeLessThan(1.25);
    const inSample = predictMs(fitPredictor(samples), samples[outlier].features);
    expect(inSample).toBeGreaterThan(held);
  });

  test('refuses folds that leave fewer than 5 nets to fit on', () => {
    expect(() => crossValidatedPredictions(syntheticNets(6, 0.01))).toThrow(/leave 4 to fit on, need at least 5/);
    expect(() => crossValidatedPredictions(syntheticNets(10, 0.01), { folds: 1 })).toThrow(/folds must be an integer >= 2/);
    expect(crossValidatedPredictions(syntheticNets(7, 0.01))).toHaveLength(7);
  });
});

describe('spearman', () => {
  test('ties share their average rank', () => {
    // Ranks (1, 2.5, 2.5, 4) against (1, 3, 2, 4): 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    expect(spearman([1, 2, 2, 3], [10, 30, 20, 40])).toBeCloseTo(Math.sqrt(0.9), 12);
  });

  test('depends on order only', () => {
    expect(spearman([1, 2, 3, 4, 5], [1, 4, 9, 16, 1000])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // One swapped pair in four: 1 - 6 * 2 / (4 * 15).
    expect(spearman([1, 2, 3, 4], [1, 2, 4, 3])).toBeCloseTo(0.8, 12);
  });

  test('is NaN when a side is constant and refuses unpaired input', () => {
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(spearman([1, 2, 3], [7, 7, 7])).toBeNaN();
    expect(() => spearman([1, 2], [1, 2, 3])).toThrow(/pair up/);
  });
});

describe('checkPredictions', () => {
  test('a hand-made case', () => {
    // Relative errors +0.1, -0.1, +0.2, -0.1.
    const c = checkPredictions([11, 18, 48, 45], [10, 20, 40, 50]);
    expect(c.nets).toBe(4);
    expect(c.within10).toBe(0.75);
    expect(c.medianError).toBeCloseTo(0.1, 12);
    expect(c.meanBias).toBeCloseTo(0.025, 12);
    expect(c.spearman).toBeCloseTo(0.8, 12);
  });

  test('an odd count takes the middle error; a predictor that always underestimates has negative bias', () => {
    const c = checkPredictions([9, 15, 30], [10, 20, 40]);
    expect(c.medianError).toBeCloseTo(0.25, 12);
    expect(c.meanBias).toBeCloseTo(-(0.1 + 0.25 + 0.25) / 3, 12);
    expect(c.within10).toBeCloseTo(1 / 3, 12);
  });

  test('refuses unpaired, empty and non-positive measurements', () => {
    expect(() => checkPredictions([1, 2], [1])).toThrow(/pair up/);
    expect(() => checkPredictions([], [])).toThrow(/no nets/);
    expect(() => checkPredictions([1, 2], [1, 0])).toThrow(/measurement 1 is 0/);
  });
});

describe('opCostMs', () => {
  const p: LatencyPredictor = { intercept: 2, perTableMs: 0.9, perOp: -0.04, perMmac: 0.002 };

  test('prices an op linearly and the net as the intercept plus its ops', () => {
    expect(opCostMs(p, 1, 10)).toBeCloseTo(0.9 - 0.04 + 0.02, 12);
    const net: Array<[number, number]> = [[1, 10], [0.5, 4], [2, 30]];
    const features: NetFeatures = { tableMs: 3.5, ops: 3, mmacs: 44 };
    const summed = p.intercept + net.reduce((acc, [ms, mmacs]) => acc + opCostMs(p, ms, mmacs), 0);
    expect(summed).toBeCloseTo(predictMs(p, features), 12);
  });

  test('clamps at 0, and an op the table prices at 0 costs nothing', () => {
    expect(opCostMs(p, 0.01, 0)).toBe(0);
    expect(opCostMs(p, 0, 0)).toBe(0);
    expect(opCostMs(PLAIN_SUM, 1.5, 100)).toBe(1.5);
  });
});
