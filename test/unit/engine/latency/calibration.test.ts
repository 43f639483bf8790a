import { decisionsOf } from '../../../../core/space';
import { SearchSpaceSchema } from '../../../../dsl/search-space';
import {
  calibratedPrices,
  drawCalibrationChoices,
  measureCalibrationNets,
  netFeatures,
  searchPrices,
  spacePrices,
  summarizeCalibration,
  type CalibrationFile,
  type CalibrationNet,
} from '../../../../engine/latency/calibration';
import { opKey, opMacs } from '../../../../engine/latency/ops';
import { predictMs } from '../../../../engine/latency/predictor';
import { distinctOps, enumerateSpaceOps } from '../../../../engine/latency/space-ops';
import type { OpLatencyTable } from '../../../../engine/latency/table';

const space = SearchSpaceSchema.parse({
  inputResolution: 16,
  stem: { channels: 8, stride: 1 },
  stages: [
    { channels: 8, repeats: 2, stride: 2, kernels: [3, 5], expansions: [3, 6], skip: true },
    { channels: 16, repeats: 2, stride: 2, kernels: [3, 5], expansions: [3, 6], skip: true },
  ],
  head: { channels: 32 },
});
const ops = enumerateSpaceOps(space, { inputChannels: 1, numClasses: 10 });
// A table in which every op costs 0.5 ms of overhead plus 1 ms per MMAC, as timed alone.
const table: OpLatencyTable = { target: 'synthetic', entries: distinctOps(ops).map((o) => ({ key: opKey(o), medianMs: 0.5 + opMacs(o) / 1e6 })) };
const prices = spacePrices(table, ops);
const decisions = decisionsOf(space);
const identity = (c: number[]) => c.join(',');

test("a net's features are its ops' table sum, op count and MACs, the fixed ops included", () => {
  const choices = decisions.map(() => 0);
  const f = netFeatures(prices, choices);
  const netOps = [...ops.decisions.map((d) => d.options[0]!), ...ops.fixed];
  expect(f.ops).toBe(netOps.length);
  expect(f.mmacs).toBeCloseTo(netOps.reduce((s, o) => s + opMacs(o), 0) / 1e6, 9);
  expect(f.tableMs).toBeCloseTo(netOps.reduce((s, o) => s + 0.5 + opMacs(o) / 1e6, 0), 9);
  // The zero op (the last option of a stage's later block) adds nothing.
  const skipped = choices.map((c, d) => (ops.decisions[d].options.at(-1) === null ? ops.decisions[d].options.length - 1 : c));
  expect(netFeatures(prices, skipped).ops).toBe(f.ops - 2);
});

test("re-priced ops sum to the predictor's estimate for every net", () => {
  const p = { intercept: 0.8, perTableMs: 0.9, perOp: -0.3, perMmac: 0.05 };
  const { matrix, fixedMs } = calibratedPrices(p, prices, table, ops);
  for (const choices of drawCalibrationChoices(decisions, 25, identity)) {
    const summed = fixedMs + choices.reduce((s, c, d) => s + matrix[d][c], 0);
    expect(summed).toBeCloseTo(predictMs(p, netFeatures(prices, choices)), 9);
  }
});

test('draws are distinct, seeded, and as many as asked', () => {
  const a = drawCalibrationChoices(decisions, 30, identity);
  expect(a).toHaveLength(30);
  expect(new Set(a.map(identity)).size).toBe(30);
  expect(drawCalibrationChoices(decisions, 30, identity)).toEqual(a);
  expect(drawCalibrationChoices(decisions, 30, identity, 99)).not.toEqual(a);
  // A space with 4 distinct nets cannot give 10.
  expect(drawCalibrationChoices(decisions.slice(0, 1), 10, identity)).toHaveLength(4);
});

/** A target whose whole-net latency is 2 ms + the ops' compute, without the per-op overhead the table counts each time. */
const measureSynthetic = async (choices: number[]) => ({ medianMs: 2 + netFeatures(prices, choices).mmacs, p90Ms: 3 + netFeatures(prices, choices).mmacs, repeats: 5 });

test('nets are timed in passes over all of them, and a resumed measurement times only the missing passes', async () => {
  const wanted = drawCalibrationChoices(decisions, 12, identity);
  const checkpoints: CalibrationNet[][] = [];
  const order: string[] = [];
  const measure = async (c: number[]) => {
    order.push(c.join(','));
    return measureSynthetic(c);
  };
  const all = await measureCalibrationNets(wanted, prices, measure, { passes: 2, checkpointEvery: 5, onCheckpoint: async (n) => void checkpoints.push(n) });
  // Every net once, then every net again: not one net twice in a row.
  expect(order).toEqual([...wanted, ...wanted].map((c) => c.join(',')));
  expect(all.map((n) => n.choices)).toEqual(wanted);
  expect(all.every((n) => n.passes?.length === 2)).toBe(true);
  // Checkpoints after 5, 10, 15 and 20 timings: the nets timed so far, each with its passes so far.
  expect(checkpoints.map((c) => c.length)).toEqual([5, 10, 12, 12]);
  expect(checkpoints[2].map((n) => n.passes!.length)).toEqual([2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  order.length = 0;
  const progress: number[][] = [];
  const resumed = await measureCalibrationNets(wanted, prices, measure, { passes: 2, resumeFrom: checkpoints[2], onProgress: (done, total) => void progress.push([done, total]) });
  expect(order).toEqual(wanted.slice(3).map((c) => c.join(',')));
  // Where the resumed measurement stands is said before its first timing.
  expect(progress[0]).toEqual([15, 24]);
  expect(progress[progress.length - 1]).toEqual([24, 24]);
  expect(resumed).toEqual(all);
  // A net from a file written before passes counts as one pass taken.
  order.length = 0;
  const { passes: _dropped, ...single } = all[0];
  await measureCalibrationNets(wanted.slice(0, 1), prices, measure, { passes: 2, resumeFrom: [single] });
  expect(order).toHaveLength(1);
  await expect(measureCalibrationNets(wanted, prices, async () => ({ medianMs: 0, repeats: 1 }))).rejects.toThrow(/positive latency/);
  await expect(measureCalibrationNets(wanted, prices, measure, { passes: 0 })).rejects.toThrow(/passes must be an integer >= 1/);
});

test('a load phase that slows every run of the nets timed during it is dropped by the median of passes', async () => {
  const wanted = drawCalibrationChoices(decisions, 10, identity);
  let calls = 0;
  // Timings 6 to 14 (the second half of the first pass and the start of the second) run 3x slower.
  const loaded = async (c: number[]) => {
    const slow = ++calls >= 6 && calls <= 14 ? 3 : 1;
    const m = await measureSynthetic(c);
    return { ...m, medianMs: slow * m.medianMs, p90Ms: slow * m.p90Ms! };
  };
  const nets = await measureCalibrationNets(wanted, prices, loaded, { passes: 3 });
  for (const n of nets) expect(n.measuredMs).toBeCloseTo((await measureSynthetic(n.choices)).medianMs, 9);
  // One pass would have kept the slow timings of the last 5 nets.
  calls = 0;
  const once = await measureCalibrationNets(wanted, prices, loaded, { passes: 1 });
  expect(once.map((n, i) => n.measuredMs > nets[i].measuredMs * 2)).toEqual([false, false, false, false, false, true, true, true, true, true]);
});

test('where the table sum overestimates, the predictor is fitted, checked held out, and used; the search prices by it', async () => {
  const nets = await measureCalibrationNets(drawCalibrationChoices(decisions, 40, identity), prices, measureSynthetic);
  const summary = summarizeCalibration(nets);
  // The plain sum counts 0.5 ms per op where the net pays 2 ms once: it is off, with the right ranks.
  expect(summary.check.plain.within10).toBeLessThan(0.5);
  expect(summary.check.plain.meanBias).toBeGreaterThan(0.1);
  expect(summary.check.predictor.within10).toBe(1);
  expect(summary.check.predictor.medianError).toBeLessThan(0.01);
  expect(summary.check.predictor.nets).toBe(40);
  expect(summary.use).toBe('predictor');
  expect(summary.heldOutMs).toHaveLength(40);

  const file: CalibrationFile = { format: 'hwnas.latency-calibration/1', target: 'synthetic', tableKey: 't', seed: 0, netsWanted: 40, nets, ...summary };
  const calibrated = searchPrices(table, ops, file);
  expect(calibrated.calibrated).toBe(true);
  const net = nets[7];
  expect(calibrated.fixedMs + net.choices.reduce((s, c, d) => s + calibrated.matrix[d][c], 0)).toBeCloseTo(net.measuredMs, 1);
  // Told to use the plain sum, or given no calibration, the search reads the table as it is.
  expect(searchPrices(table, ops, { ...file, use: 'plain' })).toEqual({ matrix: prices.matrix, fixedMs: prices.fixedMs, calibrated: false });
  expect(searchPrices(table, ops)).toEqual({ matrix: prices.matrix, fixedMs: prices.fixedMs, calibrated: false });
});

test('where the table sum is right, the plain sum is kept', async () => {
  const exact = async (c: number[]) => ({ medianMs: netFeatures(prices, c).tableMs, repeats: 5 });
  const nets = await measureCalibrationNets(drawCalibrationChoices(decisions, 30, identity), prices, exact);
  const summary = summarizeCalibration(nets);
  expect(summary.check.plain).toMatchObject({ nets: 30, within10: 1, medianError: 0, spearman: 1 });
  expect(summary.use).toBe('plain');
});

test('a predictor closer in milliseconds but ranking nets worse is not used: the search ranks by it', async () => {
  // Whole-net timings that are noise around 20 ms (a loaded machine): any fit drifts to a
  // near-constant, nearer the measurements than the table's overestimate, ordering nothing.
  let k = 0;
  const noisy = async () => ({ medianMs: 20 + 8 * Math.sin(++k * 2.3), repeats: 5 });
  const nets = await measureCalibrationNets(drawCalibrationChoices(decisions, 40, identity), prices, noisy);
  const summary = summarizeCalibration(nets);
  expect(summary.check.predictor.medianError).toBeLessThan(summary.check.plain.medianError);
  const { spearman } = summary.check.predictor;
  expect(spearman <= 0 || spearman < summary.check.plain.spearman - 1 / Math.sqrt(39)).toBe(true);
  expect(summary.use).toBe('plain');
});
