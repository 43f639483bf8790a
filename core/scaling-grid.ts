/**
 * EfficientNet step 1: the (alpha, beta, gamma) grid searched at phi = 1. Depth costs alpha,
 * width and resolution cost their square each (FLOPS grow with channels^2 and pixels), so a
 * point's cost is alpha * beta^2 * gamma^2 and the paper keeps it near 2. Pure functions with no
 * imports: workflow code enumerates the grid itself, deterministically.
 */

export interface GridOptions {
  /** Spacing of each coefficient's values: 1, 1 + step, 1 + 2 step, ... */
  gridStep: number;
  /** Largest value any coefficient takes. */
  maxCoefficient: number;
  /** Target of alpha * beta^2 * gamma^2. */
  costRatio: number;
  /** Largest relative distance |cost - costRatio| / costRatio a point may have. */
  tolerance: number;
}

export interface GridPoint {
  alpha: number;
  beta: number;
  gamma: number;
  /** alpha * beta^2 * gamma^2. */
  cost: number;
  /** |cost - costRatio| / costRatio. */
  deviation: number;
}

/**
 * `1 + i * step` cut to 6 decimals: without the cut, 1 + 3 * 0.05 is 1.1500000000000001, which
 * would leak into artifact keys and make equal points compare unequal.
 */
function gridValue(i: number, step: number): number {
  return Number((1 + i * step).toFixed(6));
}

export function pointCost(alpha: number, beta: number, gamma: number): number {
  return alpha * beta * beta * gamma * gamma;
}

/**
 * Every grid point within tolerance, closest to costRatio first; ties (equal deviation to 1e-12)
 * go by alpha, then beta, then gamma ascending, so the order is the same on every machine.
 */
export function scalingGrid(o: GridOptions): GridPoint[] {
  if (!(o.gridStep > 0)) throw new Error(`gridStep must be > 0, got ${o.gridStep}`);
  if (!(o.maxCoefficient >= 1)) throw new Error(`maxCoefficient must be >= 1, got ${o.maxCoefficient}`);
  // The 1e-9 lets maxCoefficient itself in when it is a multiple of the step up to float error.
  const steps = Math.floor((o.maxCoefficient - 1) / o.gridStep + 1e-9);
  const values = Array.from({ length: steps + 1 }, (_, i) => gridValue(i, o.gridStep));
  const points: GridPoint[] = [];
  for (const alpha of values) {
    for (const beta of values) {
      for (const gamma of values) {
        const cost = pointCost(alpha, beta, gamma);
        const deviation = Math.abs(cost - o.costRatio) / o.costRatio;
        if (deviation <= o.tolerance + 1e-12) points.push({ alpha, beta, gamma, cost, deviation });
      }
    }
  }
  return points.sort(
    (a, b) =>
      (Math.abs(a.deviation - b.deviation) > 1e-12 ? a.deviation - b.deviation : 0) ||
      a.alpha - b.alpha ||
      a.beta - b.beta ||
      a.gamma - b.gamma,
  );
}

/**
 * The points that get trained: the `budget` closest to the cost target. Closest-first keeps the
 * comparison the paper makes (equal cost, different shape) as tight as the budget allows; the
 * untrained rest are never started.
 */
export function gridTrials(o: GridOptions & { trialBudget: number }): GridPoint[] {
  return scalingGrid(o).slice(0, o.trialBudget);
}

/** Stable text of a coefficient triple for keys and tables: `1.2_1.1_1.15`. */
export function pointLabel(p: { alpha: number; beta: number; gamma: number }): string {
  return [p.alpha, p.beta, p.gamma].map((x) => String(Number(x.toFixed(6)))).join('_');
}
