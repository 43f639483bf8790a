/**
 * The accuracy-latency Pareto front: the points no other point beats on both counts (at least as
 * accurate and at most as slow, better on one). These are the only models worth deploying on that
 * target; everything else is dominated.
 */
export interface TradeoffPoint {
  latencyMs: number;
  accuracy: number;
}

/** Indices of the front, ordered by latency (fastest first). */
export function paretoFront(points: readonly TradeoffPoint[]): number[] {
  const order = points
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => Number.isFinite(p.latencyMs) && Number.isFinite(p.accuracy))
    // Fastest first; at equal latency the most accurate first, so it is the one kept.
    .sort((a, b) => a.p.latencyMs - b.p.latencyMs || b.p.accuracy - a.p.accuracy);
  const front: number[] = [];
  let best = -Infinity;
  for (const { p, i } of order) {
    if (p.accuracy > best) {
      front.push(i);
      best = p.accuracy;
    }
  }
  return front;
}
