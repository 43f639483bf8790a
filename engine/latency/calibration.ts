/**
 * Checking and calibrating a latency table against whole nets (nn-Meter's test of a predictor):
 * nets drawn uniformly from the search space are timed whole on the target, and set against what
 * the table predicts for them. The file this module defines holds those nets, the predictor fitted
 * on them and its check numbers; the search, the latency bands and the report read it.
 *
 * The predictor (./predictor.ts) is linear in per-op terms, so it is applied by re-pricing the
 * table: every op costs perTableMs * ms + perOp + perMmac * MMACs, and the fixed part carries the
 * intercept. A net's sum of re-priced ops is then exactly the predictor's estimate, and the
 * supernet's E[LAT] and the band draws work on calibrated prices unchanged.
 */
import type { z } from 'zod';
import { latencyCalibrationNetSchema, latencyCalibrationSchema } from '../../core/artifact-files';
import type { LatencyMeasurement } from '../../core/ops';
import { mixSeed, mulberry32 } from '../../core/random';
import type { Decision } from '../../core/space';
import { DEFAULT_CALIBRATION_PASSES } from '../../core/stage-settings';
import { opKey, opMacs } from './ops';
import {
  checkPredictions,
  crossValidatedPredictions,
  fitPredictor,
  opCostMs,
  PLAIN_SUM,
  predictMs,
  type LatencyPredictor,
  type NetFeatures,
  type PredictionCheck,
} from './predictor';
import type { SpaceOps } from './space-ops';
import { entriesByKey, fixedLatencyMs, latencyMatrix, type OpLatencyTable } from './table';
import { quantile } from './timing';

export { DEFAULT_CALIBRATION_NETS, DEFAULT_CALIBRATION_PASSES } from '../../core/stage-settings';
/** Fixed, not the run's seed: the file is shared by every run with the same table, so its nets must not depend on who measured first. */
export const CALIBRATION_SEED = 0xca11b;

export { CALIBRATION_FORMAT, latencyCalibrationSchema as CalibrationFileSchema } from '../../core/artifact-files';
export type CalibrationNet = z.output<typeof latencyCalibrationNetSchema>;
export type CalibrationFile = z.output<typeof latencyCalibrationSchema>;

/** The table's prices and op sizes of every option of a space, and of the ops every net has. */
export interface SpacePrices {
  /** (decision, option) -> ms, 0 for the zero op; in the order of `decisionsOf(space)`. */
  matrix: number[][];
  /** (decision, option) -> millions of MACs, 0 for the zero op. */
  mmacs: number[][];
  /** Whether the option is an op (false: the zero op). */
  isOp: boolean[][];
  fixedMs: number;
  fixedOps: number;
  fixedMmacs: number;
}

export function spacePrices(table: OpLatencyTable, ops: SpaceOps): SpacePrices {
  const fixedMs = fixedLatencyMs(table, ops);
  // A table measured before it priced the whole net holds no fixed ops (fixedMs 0): none are counted then.
  const fixedPriced = fixedMs > 0;
  return {
    matrix: latencyMatrix(table, ops),
    mmacs: ops.decisions.map((d) => d.options.map((o) => (o ? opMacs(o) / 1e6 : 0))),
    isOp: ops.decisions.map((d) => d.options.map((o) => o !== null)),
    fixedMs,
    fixedOps: fixedPriced ? ops.fixed.length : 0,
    fixedMmacs: fixedPriced ? ops.fixed.reduce((s, o) => s + opMacs(o), 0) / 1e6 : 0,
  };
}

/** What the table knows of the net `choices` picks. */
export function netFeatures(prices: SpacePrices, choices: readonly number[]): NetFeatures {
  let tableMs = prices.fixedMs;
  let ops = prices.fixedOps;
  let mmacs = prices.fixedMmacs;
  choices.forEach((c, d) => {
    tableMs += prices.matrix[d][c];
    mmacs += prices.mmacs[d][c];
    if (prices.isOp[d][c]) ops++;
  });
  return { tableMs, ops, mmacs };
}

/**
 * The table re-priced by `p`: per option `opCostMs`, the zero op 0, and the fixed ops plus the
 * intercept as the fixed part. Summing it over a net gives `predictMs(p, netFeatures(...))`
 * (exactly, unless an op's cost was clamped at 0).
 */
export function calibratedPrices(p: LatencyPredictor, prices: SpacePrices, table: OpLatencyTable, ops: SpaceOps): { matrix: number[][]; fixedMs: number } {
  const byKey = entriesByKey(table);
  const fixedParts = prices.fixedOps ? ops.fixed.map((o) => opCostMs(p, byKey.get(opKey(o))!.medianMs, opMacs(o) / 1e6)) : [];
  return {
    matrix: prices.matrix.map((row, d) => row.map((ms, o) => (prices.isOp[d][o] ? opCostMs(p, ms, prices.mmacs[d][o]) : 0))),
    fixedMs: p.intercept + fixedParts.reduce((s, x) => s + x, 0),
  };
}

/**
 * `count` distinct nets drawn uniformly (each decision's option uniform), distinct by `identity`
 * (the blocks they build: nets that skip in different places can be the same net). Fewer when the
 * space has fewer distinct nets.
 */
export function drawCalibrationChoices(decisions: readonly Decision[], count: number, identity: (choices: number[]) => string, seed = CALIBRATION_SEED): number[][] {
  const rand = mulberry32(mixSeed(seed, count));
  const seen = new Set<string>();
  const out: number[][] = [];
  for (let tries = 0; out.length < count && tries < count * 50; tries++) {
    const choices = decisions.map((d) => Math.floor(rand() * d.options.length));
    const id = identity(choices);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(choices);
  }
  return out;
}

export interface MeasureNetsOptions {
  /** Passes over all nets (default `DEFAULT_CALIBRATION_PASSES`); a net's latency is the median of its passes. */
  passes?: number;
  /** Nets measured by an earlier attempt: their passes are kept, only the missing ones measured. */
  resumeFrom?: readonly CalibrationNet[];
  /** Before the first timing and after each net's turn: timings done and wanted (nets times passes). */
  onProgress?(done: number, total: number): void;
  /** Awaited after every `checkpointEvery` new timings with every net timed so far: where a retry resumes from. */
  onCheckpoint?(nets: CalibrationNet[]): Promise<void>;
  checkpointEvery?: number;
  signal?: AbortSignal;
}

const medianOf = (xs: readonly number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);

/**
 * Times each net of `choicesList` whole with `measure`, in `passes` passes over all of them,
 * resumable. Why passes rather than more runs per net: a load phase of the machine (another
 * process, a GC storm, thermal throttling) lasts seconds, so it moves every run of the one net
 * timed then, and no median of that net's runs sees it; spread over passes, it touches one of
 * each net's passes, and the median of the passes drops it.
 */
export async function measureCalibrationNets(
  choicesList: readonly number[][],
  prices: SpacePrices,
  measure: (choices: number[]) => Promise<LatencyMeasurement>,
  o: MeasureNetsOptions = {},
): Promise<CalibrationNet[]> {
  const passes = o.passes ?? DEFAULT_CALIBRATION_PASSES;
  if (!Number.isInteger(passes) || passes < 1) throw new Error(`measureCalibrationNets: passes must be an integer >= 1, got ${passes}`);
  const key = (c: readonly number[]) => c.join(',');
  const timed = new Map<string, { medianMs: number; p90Ms: number }[]>();
  for (const n of o.resumeFrom ?? []) timed.set(key(n.choices), n.passes ? [...n.passes] : [{ medianMs: n.measuredMs, p90Ms: n.p90Ms }]);
  const net = (choices: readonly number[]): CalibrationNet => {
    const ps = timed.get(key(choices))!;
    const measuredMs = medianOf(ps.map((p) => p.medianMs));
    return { choices: [...choices], features: netFeatures(prices, choices), measuredMs, p90Ms: Math.max(medianOf(ps.map((p) => p.p90Ms)), measuredMs), passes: ps };
  };
  const inOrder = () => choicesList.filter((c) => timed.has(key(c))).map(net);
  const total = choicesList.length * passes;
  const done = () => choicesList.reduce((s, c) => s + Math.min(passes, timed.get(key(c))?.length ?? 0), 0);
  const every = Math.max(1, o.checkpointEvery ?? 4);
  let since = 0;
  // Where a resumed measurement stands, before its first timing.
  o.onProgress?.(done(), total);
  for (let pass = 0; pass < passes; pass++) {
    for (const choices of choicesList) {
      const sofar = timed.get(key(choices)) ?? [];
      if (sofar.length <= pass) {
        o.signal?.throwIfAborted();
        const m = await measure([...choices]);
        if (!(m.medianMs > 0) || !Number.isFinite(m.medianMs)) throw new Error(`a calibration net measured ${m.medianMs} ms: the target's measureModel must return a positive latency`);
        timed.set(key(choices), [...sofar, { medianMs: m.medianMs, p90Ms: Math.max(m.p90Ms ?? m.medianMs, m.medianMs) }]);
        if (++since >= every && done() < total) {
          since = 0;
          await o.onCheckpoint?.(inOrder());
        }
      }
      o.onProgress?.(done(), total);
    }
  }
  // A net resumed with more passes than asked keeps them all: they were measured, and the median takes them.
  return inOrder();
}

export interface CalibrationSummary {
  predictor: LatencyPredictor;
  check: { plain: PredictionCheck; predictor: PredictionCheck };
  use: 'predictor' | 'plain';
  /** Each net's held-out estimate, in the order given. */
  heldOutMs: number[];
}

/**
 * The predictor fitted on all nets, and the check numbers: the plain sum's on every net, the
 * predictor's on held-out (cross-validated) predictions, so neither is flattered by its own fit.
 */
export function summarizeCalibration(nets: readonly CalibrationNet[]): CalibrationSummary {
  const samples = nets.map((n) => ({ features: n.features, measuredMs: n.measuredMs }));
  const measured = samples.map((s) => s.measuredMs);
  const plain = checkPredictions(
    samples.map((s) => predictMs(PLAIN_SUM, s.features)),
    measured,
  );
  const predictor = fitPredictor(samples);
  const heldOutMs = crossValidatedPredictions(samples);
  const held = checkPredictions(heldOutMs, measured);
  return { predictor, check: { plain, predictor: held }, use: predictorIsBetter(held, plain) ? 'predictor' : 'plain', heldOutMs };
}

/**
 * The predictor must be closer in milliseconds and must not order nets worse: the search picks the
 * most likely net within a budget, so ranks matter as much as scale. Where whole-net timings are
 * mostly noise, a fit drifts to a near-constant (the measurements' middle), which has a small
 * median error and no ranking at all (node-cpu on a loaded 2-core machine: held-out Spearman
 * -0.27 against the table's -0.01, median error 18.8% against 77.4%); used, it made the search
 * blind to latency. A drop within a rank correlation's sampling error on these nets (1/sqrt(n-1))
 * is not counted against it.
 */
function predictorIsBetter(held: PredictionCheck, plain: PredictionCheck): boolean {
  const rankNoise = 1 / Math.sqrt(Math.max(1, held.nets - 1));
  return held.medianError < plain.medianError && held.spearman > 0 && held.spearman >= plain.spearman - rankNoise;
}

/** One line per check, for logs and the benchmark. */
export function describeCheck(c: PredictionCheck): string {
  const rho = Number.isFinite(c.spearman) ? c.spearman.toFixed(3) : 'n/a';
  return `${c.nets} nets: Spearman ${rho}, within +-10% ${(100 * c.within10).toFixed(0)}%, median error ${(100 * c.medianError).toFixed(1)}%, bias ${(100 * c.meanBias).toFixed(1)}%`;
}

/** The prices a search uses from a table and, where calibrated and better, its calibration file. */
export function searchPrices(table: OpLatencyTable, ops: SpaceOps, calibration?: CalibrationFile): { matrix: number[][]; fixedMs: number; calibrated: boolean } {
  const prices = spacePrices(table, ops);
  if (calibration?.use === 'predictor' && calibration.predictor) return { ...calibratedPrices(calibration.predictor, prices, table, ops), calibrated: true };
  return { matrix: prices.matrix, fixedMs: prices.fixedMs, calibrated: false };
}
