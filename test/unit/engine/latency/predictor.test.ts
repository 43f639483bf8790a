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
} from '../../../../engine/latency/predictor';

/** Nets whose latency follows `truth`, times (1 + noise) with noise uniform in +-`noise`. */
function synthetic(truth: LatencyPredictor, n: number, noise: number, seed = 1): CalibrationSample[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const ops = 6 + Math.floor(rand() * 10);
    const mmacs = 1 + rand() * 30;
    const features = { tableMs: ops * (0.6 + rand() * 0.4) + 0.05 * mmacs, ops, mmacs };
    return { features, measuredMs: predictMs(truth, features) * (1 + noise * (2 * rand() - 1)) };
  });
}

const truth: LatencyPredictor = { intercept: 2, perTableMs: 0.5, perOp: -0.2, perMmac: 0.3 };

test('a fit recovers the coefficients that made the data, up to the noise', () => {
  const fit = fitPredictor(synthetic(truth, 60, 0.001), { ridge: 0 });
  expect(fit.intercept).toBeCloseTo(2, 1);
  expect(fit.perTableMs).toBeCloseTo(0.5, 1);
  expect(fit.perOp).toBeCloseTo(-0.2, 1);
  expect(fit.perMmac).toBeCloseTo(0.3, 2);
  const held = checkPredictions(
    synthetic(truth, 30, 0.001, 2).map((s) => predictMs(fit, s.features)),
    synthetic(truth, 30, 0.001, 2).map((s) => s.measuredMs),
  );
  expect(held.within10).toBe(1);
  expect(held.medianError).toBeLessThan(0.005);
});

test('cross-validated predictions are held out: an outlier is not predicted as itself', () => {
  const samples = synthetic(truth, 30, 0.01);
  samples[7] = { ...samples[7], measuredMs: samples[7].measuredMs * 5 };
  const held = crossValidatedPredictions(samples);
  expect(held).toHaveLength(30);
  expect(held[7]).toBeLessThan(samples[7].measuredMs / 2);
  expect(Math.abs(held[3] - samples[3].measuredMs) / samples[3].measuredMs).toBeLessThan(0.2);
  expect(() => crossValidatedPredictions(samples.slice(0, 6))).toThrow(/leave 4 to fit on, need at least 5/);
});

test("Spearman ranks with ties averaged; reversed order is -1, a constant side NaN", () => {
  expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
  expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
  // Ranks x: 1, 2.5, 2.5, 4; y: 1, 2, 3, 4: Pearson of those is 0.9486833.
  expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(0.9486833, 6);
  expect(spearman([5, 5, 5], [1, 2, 3])).toBeNaN();
  expect(() => spearman([1], [1, 2])).toThrow(/pair up/);
});

test('the check: share within 10%, median and signed mean error', () => {
  const c = checkPredictions([11, 8, 10, 13], [10, 10, 10, 10]);
  expect(c).toMatchObject({ nets: 4, within10: 0.5 });
  expect(c.medianError).toBeCloseTo(0.15, 12);
  expect(c.meanBias).toBeCloseTo(0.05, 12);
  // Every net measured alike: nothing to rank.
  expect(c.spearman).toBeNaN();
  expect(() => checkPredictions([1], [0])).toThrow(/finite number > 0/);
});

test('the plain sum, op costs clamped at 0, and refusals', () => {
  expect(predictMs(PLAIN_SUM, { tableMs: 7.5, ops: 9, mmacs: 3 })).toBe(7.5);
  expect(opCostMs(truth, 1, 2)).toBeCloseTo(0.5 - 0.2 + 0.6, 12);
  expect(opCostMs({ ...truth, perOp: -5 }, 1, 2)).toBe(0);
  expect(opCostMs(truth, 0, 0)).toBe(0);
  expect(() => fitPredictor(synthetic(truth, 4, 0))).toThrow(/need at least 5/);
  expect(() => fitPredictor([...synthetic(truth, 5, 0), { features: { tableMs: 1, ops: 1, mmacs: 1 }, measuredMs: 0 }])).toThrow(/finite number > 0/);
});
