/**
 * From a table sum to a latency estimate. The table prices a net as the sum of its ops, each
 * timed alone; on real runtimes that sum misses, because every op timed alone pays a dispatch and
 * readback overhead that the whole net pays once, and small ops are dominated by that overhead
 * while large ones are not. Given nets whose whole-net latency was measured, we fit a linear
 * correction in the table's own terms and check it the way nn-Meter reports predictors: rank
 * correlation, share of nets within 10%, median error and bias, all on held-out predictions.
 * The predictor stays linear in per-op terms so the search can still price a net op by op.
 */

/** What the table knows of one net: sum of its ops' table medians in ms (fixed ops included), the number of ops priced (non-zero ops), and its multiply-adds in millions. */
export interface NetFeatures {
  tableMs: number;
  ops: number;
  mmacs: number;
}

/** measured = intercept + perTableMs * tableMs + perOp * ops + perMmac * mmacs. Linear in per-op terms, so a search can apply it op by op: each op costs perTableMs*ms + perOp + perMmac*mmacs, and the intercept is a per-target fixed overhead paid once per inference. */
export interface LatencyPredictor {
  intercept: number;
  perTableMs: number;
  perOp: number;
  perMmac: number;
}

export interface CalibrationSample {
  features: NetFeatures;
  measuredMs: number;
}

/** The plain table sum as a predictor (intercept 0, perTableMs 1, others 0). */
export const PLAIN_SUM: LatencyPredictor = Object.freeze({ intercept: 0, perTableMs: 1, perOp: 0, perMmac: 0 });

/** The fewest calibration nets a 4-coefficient fit accepts: one more than it has unknowns. */
const MIN_SAMPLES = 5;
const DEFAULT_RIDGE = 1e-3;
const DEFAULT_FOLDS = 5;

export function predictMs(p: LatencyPredictor, f: NetFeatures): number {
  return p.intercept + p.perTableMs * f.tableMs + p.perOp * f.ops + p.perMmac * f.mmacs;
}

/** The non-intercept columns, in the order of the coefficients. */
function columns(f: NetFeatures): [number, number, number] {
  return [f.tableMs, f.ops, f.mmacs];
}

function checkSamples(samples: readonly CalibrationSample[]): void {
  if (samples.length < MIN_SAMPLES) {
    throw new Error(`fitPredictor: ${samples.length} calibration net(s) given, need at least ${MIN_SAMPLES} (4 coefficients are fitted); measure more nets end to end`);
  }
  samples.forEach((s, i) => {
    if (!Number.isFinite(s.measuredMs) || s.measuredMs <= 0) {
      throw new Error(`fitPredictor: sample ${i} has measuredMs ${s.measuredMs}; every measured latency must be a finite number > 0 (errors are relative to it)`);
    }
    const bad = columns(s.features).findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new Error(`fitPredictor: sample ${i} has a non-finite feature ${['tableMs', 'ops', 'mmacs'][bad]}; check the table covers every op of that net`);
    }
  });
}

/** Solves a x = b in place by Gaussian elimination with partial pivoting; null when a is (numerically) singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  const scale = Math.max(...a.map((row, i) => Math.abs(row[i])), Number.MIN_VALUE);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    // Relative to the largest diagonal: with standardised columns a pivot this small is collinearity, not data.
    if (Math.abs(a[pivot][col]) <= 1e-10 * scale) return null;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    [b[col], b[pivot]] = [b[pivot], b[col]];
    for (let r = col + 1; r < n; r++) {
      const factor = a[r][col] / a[col][col];
      for (let c = col; c < n; c++) a[r][c] -= factor * a[col][c];
      b[r] -= factor * b[col];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let sum = b[r];
    for (let c = r + 1; c < n; c++) sum -= a[r][c] * x[c];
    x[r] = sum / a[r][r];
  }
  return x;
}

/**
 * Weighted least squares on relative error (rows weighted by 1 / measured^2): a 2 ms net off by
 * 1 ms is as wrong as a 20 ms net off by 10. A small ridge on the standardised columns keeps the
 * fit stable where tableMs and ops are nearly proportional (every op costing about the same).
 */
export function fitPredictor(samples: readonly CalibrationSample[], opts?: { ridge?: number }): LatencyPredictor {
  checkSamples(samples);
  const ridge = opts?.ridge ?? DEFAULT_RIDGE;
  if (!Number.isFinite(ridge) || ridge < 0) throw new Error(`fitPredictor: ridge must be a finite number >= 0, got ${ridge}`);

  // Relative error weights, normalised to sum 1 so the ridge means the same whatever the units.
  const raw = samples.map((s) => 1 / (s.measuredMs * s.measuredMs));
  const total = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((v) => v / total);

  // Standardise with the same weights the fit uses, so each penalised column has weighted variance 1
  // and lambda is a share of the data's own curvature: the same shrinkage for ms, op counts and MMACs.
  const mean = [0, 1, 2].map((j) => samples.reduce((acc, s, i) => acc + w[i] * columns(s.features)[j], 0));
  const sd = [0, 1, 2].map((j) => Math.sqrt(samples.reduce((acc, s, i) => acc + w[i] * (columns(s.features)[j] - mean[j]) ** 2, 0)));
  // A constant column carries nothing beyond the intercept; zero it rather than divide by a rounding error.
  const constant = sd.map((v, j) => v <= 1e-12 * Math.max(1, Math.abs(mean[j])));
  const rows = samples.map((s) => [1, ...columns(s.features).map((v, j) => (constant[j] ? 0 : (v - mean[j]) / sd[j]))]);

  const a = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((c) => rows.reduce((acc, x, i) => acc + w[i] * x[r] * x[c], 0)));
  const b = [0, 1, 2, 3].map((r) => rows.reduce((acc, x, i) => acc + w[i] * x[r] * samples[i].measuredMs, 0));
  for (let j = 1; j < 4; j++) a[j][j] += ridge;

  const z = solve(a, b);
  if (z === null) {
    throw new Error('fitPredictor: the features are collinear (e.g. every net has the same op count, or ops is proportional to tableMs), so the fit has no unique answer; use a ridge > 0 or calibrate on more varied nets');
  }
  // Back from standardised columns: pred = z0 + sum z_j (x_j - mean_j) / sd_j.
  const slope = [0, 1, 2].map((j) => (constant[j] ? 0 : z[j + 1] / sd[j]));
  return {
    intercept: z[0] - slope.reduce((acc, s, j) => acc + s * mean[j], 0),
    perTableMs: slope[0],
    perOp: slope[1],
    perMmac: slope[2],
  };
}

/** Each sample's prediction from a predictor fitted without it: k folds (default 5) by index i % k, so every prediction is held out. */
export function crossValidatedPredictions(samples: readonly CalibrationSample[], opts?: { folds?: number; ridge?: number }): number[] {
  const k = opts?.folds ?? DEFAULT_FOLDS;
  if (!Number.isInteger(k) || k < 2) throw new Error(`crossValidatedPredictions: folds must be an integer >= 2, got ${k}`);
  // The largest fold leaves the fewest nets to fit on.
  const smallestTraining = samples.length - Math.ceil(samples.length / k);
  if (smallestTraining < MIN_SAMPLES) {
    throw new Error(`crossValidatedPredictions: ${samples.length} nets in ${k} folds leave ${smallestTraining} to fit on, need at least ${MIN_SAMPLES}; measure more nets or use more folds`);
  }
  const predicted = new Array<number>(samples.length).fill(Number.NaN);
  for (let fold = 0; fold < k; fold++) {
    const training = samples.filter((_, i) => i % k !== fold);
    const p = fitPredictor(training, { ridge: opts?.ridge });
    samples.forEach((s, i) => {
      if (i % k === fold) predicted[i] = predictMs(p, s.features);
    });
  }
  return predicted;
}

/** Ranks from 1, ties sharing the average of the ranks they span. */
function averageRanks(xs: readonly number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const ranks = new Array<number>(xs.length).fill(0);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && xs[order[end + 1]] === xs[order[start]]) end++;
    const rank = (start + end) / 2 + 1;
    for (let t = start; t <= end; t++) ranks[order[t]] = rank;
    start = end + 1;
  }
  return ranks;
}

function pearson(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rank correlation with average ranks for ties (Pearson of the ranks); NaN when either side is constant. */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`spearman: ${xs.length} values against ${ys.length}; the two sides must pair up`);
  if (xs.some((v) => Number.isNaN(v)) || ys.some((v) => Number.isNaN(v))) throw new Error('spearman: NaN values cannot be ranked');
  return pearson(averageRanks(xs), averageRanks(ys));
}

export interface PredictionCheck {
  nets: number;
  spearman: number;
  /** Share of nets with |pred-meas|/meas <= 0.10, in [0,1]. */
  within10: number;
  /** Median of |pred-meas|/meas. */
  medianError: number;
  /** Mean of (pred-meas)/meas, signed: >0 means the predictor overestimates. */
  meanBias: number;
}

export function checkPredictions(predicted: readonly number[], measured: readonly number[]): PredictionCheck {
  if (predicted.length !== measured.length) throw new Error(`checkPredictions: ${predicted.length} predictions against ${measured.length} measurements; they must pair up net by net`);
  if (measured.length === 0) throw new Error('checkPredictions: no nets to check');
  measured.forEach((m, i) => {
    if (!Number.isFinite(m) || m <= 0) throw new Error(`checkPredictions: measurement ${i} is ${m}; errors are relative to it, so it must be a finite number > 0`);
  });
  const rel = predicted.map((p, i) => (p - measured[i]) / measured[i]);
  const abs = rel.map(Math.abs).sort((a, b) => a - b);
  const mid = abs.length >> 1;
  // Within 10% with a hair of slack: 1.1 - 1 is not exactly 0.1 in floating point.
  const within = abs.filter((e) => e <= 0.1 + 1e-12).length;
  return {
    nets: measured.length,
    spearman: spearman(predicted, measured),
    within10: within / abs.length,
    medianError: abs.length % 2 === 1 ? abs[mid] : (abs[mid - 1] + abs[mid]) / 2,
    meanBias: rel.reduce((a, b) => a + b, 0) / rel.length,
  };
}

/**
 * Per-op cost under the predictor, clamped at 0 (a negative price would make an op look like it
 * speeds the net up). An op the table prices at 0 (a skip) is not among the `ops` the fit counted,
 * so it pays no per-op share either; summing this over a net's ops plus the intercept then gives
 * `predictMs` wherever no op is clamped.
 */
export function opCostMs(p: LatencyPredictor, tableMs: number, mmacs: number): number {
  if (tableMs === 0) return 0;
  return Math.max(0, p.perTableMs * tableMs + p.perOp + p.perMmac * mmacs);
}
