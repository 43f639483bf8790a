/**
 * Nets of one latency band, drawn by the per-op table: the candidates of a search inside the band
 * a one-shot search chose, and the random nets an experiment compares a searched net against.
 */
import type { RandomLatencyBaseline } from '../../core/artifact-files';
import type { Decision } from '../../core/space';
import { sampledLatency, type LatencyTable } from './latency-objective';

export interface LatencyBandOptions {
  /** How many nets to find. */
  count: number;
  /** The band as fractions of the reference net's latency: [-0.1, 0] is "up to 10% faster, never slower". */
  range: readonly [number, number];
  /** Uniform in [0, 1): the only source of randomness, so a seeded generator makes the draws repeatable. */
  rand: () => number;
  /** Latency every net shares (stem, head), added to the table's mixed ops. Default 0. */
  fixedMs?: number;
  /** What makes two nets the same (default: the choice vector); nets the same as one kept, or as the reference, are skipped. */
  identity?: (choices: readonly number[]) => string;
  /** Draws before giving up with fewer than `count` nets. Default 200,000. */
  maxDraws?: number;
}

export interface LatencyBandDraw {
  /** The accepted nets, in the order drawn. */
  choices: number[][];
  /** Their latencies by the table (fixedMs included). */
  latenciesMs: number[];
  /** The reference net's latency by the table. */
  referenceMs: number;
  /** Nets drawn in all, accepted or not. */
  draws: number;
}

/**
 * Up to `count` distinct nets drawn uniformly from the space (one option per decision) whose table
 * latency lies within `range` of the reference's. Uniform draws filtered by latency, rather than a
 * walk from the reference, so every net of the band is equally likely.
 */
export function drawInLatencyBand(decisions: readonly Decision[], table: LatencyTable, reference: readonly number[], o: LatencyBandOptions): LatencyBandDraw {
  const fixedMs = o.fixedMs ?? 0;
  const identity = o.identity ?? ((c: readonly number[]) => c.join(','));
  const latencyOf = (c: readonly number[]) => fixedMs + sampledLatency(c, table, decisions);
  const referenceMs = latencyOf(reference);
  const seen = new Set<string>([identity(reference)]);
  const choices: number[][] = [];
  const latenciesMs: number[] = [];
  const maxDraws = o.maxDraws ?? 200_000;
  let draws = 0;
  while (choices.length < o.count && draws < maxDraws) {
    draws++;
    const c = decisions.map((d) => Math.floor(o.rand() * d.options.length));
    const ms = latencyOf(c);
    // As a difference, so a symmetric band accepts exactly the nets with |ms - ref| <= band * ref.
    if (ms - referenceMs < o.range[0] * referenceMs || ms - referenceMs > o.range[1] * referenceMs) continue;
    const key = identity(c);
    if (seen.has(key)) continue;
    seen.add(key);
    choices.push(c);
    latenciesMs.push(ms);
  }
  return { choices, latenciesMs, referenceMs, draws };
}

/** Where a net stands among random nets of the same space, by the same table. */
/** Stored in `band-trials.json`, so its schema is core/artifact-files.ts's. */
export type { RandomLatencyBaseline };

/**
 * The latency a search result is worth against chance: `draws` nets drawn uniformly from the
 * space, priced by the table the search used. A search that only matched the median of random
 * nets found nothing the space did not give away.
 */
export function randomLatencyBaseline(
  decisions: readonly Decision[],
  table: LatencyTable,
  reference: readonly number[],
  o: { draws: number; rand: () => number; fixedMs?: number },
): RandomLatencyBaseline {
  const fixedMs = o.fixedMs ?? 0;
  const referenceMs = fixedMs + sampledLatency(reference, table, decisions);
  const ms = Array.from({ length: o.draws }, () => fixedMs + sampledLatency(decisions.map((d) => Math.floor(o.rand() * d.options.length)), table, decisions)).sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  return { draws: o.draws, medianMs: at(0.5), p10Ms: at(0.1), p90Ms: at(0.9), referenceFasterThan: ms.filter((m) => m > referenceMs).length / ms.length };
}
