/**
 * Latency as a differentiable objective (ProxylessNAS section 3.3): with F(path) from a per-target
 * lookup table, E[LAT] = sum over mixed ops of sum_j p_j F_j is a smooth function of alpha, and
 * dE/dalpha_i = p_i (F_i - E_op) because d p_j / d alpha_i = p_j (delta_ij - p_i).
 */
import type { Decision } from '../../core/space';
import { softmax, type Logits } from './alpha';

// The latency penalty is shared with the multi-trial score and moved to core/objectives.ts; the
// supernet's barrel (./index.ts) and code written against this path still find it here.
export { checkLatencyTarget, latencyPenalty, type LatencyPenalty, type LatencyTarget } from '../../core/objectives';

/**
 * Milliseconds per (decision, option), in the order of `decisionsOf(space)` and each decision's
 * options. The zero op's entry is ignored: skipping a block costs nothing.
 */
export type LatencyTable = number[][];

export interface ExpectedLatency {
  /** Sum over mixed ops, in the table's unit (ms). */
  expected: number;
  perDecision: number[];
  /** dE/dalpha, same shape as alpha. */
  gradient: Logits;
}

export class LatencyTableError extends Error {
  constructor(detail: string) {
    super(`latency table does not fit the search space: ${detail}; build it from decisionsOf(space), one entry per option`);
    this.name = 'LatencyTableError';
  }
}

/** Checks the shape against the logits and returns the costs with the zero op forced to 0. */
export function costsOf(alpha: Logits, table: LatencyTable, decisions?: readonly Decision[]): number[][] {
  if (table.length !== alpha.length) throw new LatencyTableError(`${table.length} rows for ${alpha.length} decisions`);
  return table.map((row, d) => {
    if (row.length !== alpha[d].length) throw new LatencyTableError(`row ${d} has ${row.length} entries for ${alpha[d].length} options`);
    return row.map((ms, j) => {
      if (decisions?.[d].options[j] === 'zero') return 0;
      if (!Number.isFinite(ms) || ms < 0) throw new LatencyTableError(`entry [${d}][${j}] is ${ms}`);
      return ms;
    });
  });
}

/** E[LAT] of one op and its gradient over the given logits (a whole op, or a sampled subset). */
export function opExpectedLatency(logits: readonly number[], costs: readonly number[]): { expected: number; gradient: number[] } {
  const p = softmax(logits);
  const expected = p.reduce((s, q, j) => s + q * costs[j], 0);
  return { expected, gradient: p.map((q, i) => q * (costs[i] - expected)) };
}

/**
 * Expected latency of the network under softmax(alpha). Pass `decisions` (from `decisionsOf`) so
 * the zero op is priced at 0 whatever the table says there.
 */
export function expectedLatency(alpha: Logits, table: LatencyTable, decisions?: readonly Decision[]): ExpectedLatency {
  const costs = costsOf(alpha, table, decisions);
  const perOp = alpha.map((a, d) => opExpectedLatency(a, costs[d]));
  return {
    expected: perOp.reduce((s, o) => s + o.expected, 0),
    perDecision: perOp.map((o) => o.expected),
    gradient: perOp.map((o) => o.gradient),
  };
}

/** Latency of one concrete architecture (one option per decision) from the same table. */
export function sampledLatency(choices: readonly number[], table: LatencyTable, decisions?: readonly Decision[]): number {
  return choices.reduce((s, j, d) => s + (decisions?.[d].options[j] === 'zero' ? 0 : table[d][j]), 0);
}
