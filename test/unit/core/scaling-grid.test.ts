/** The (alpha, beta, gamma) grid of compound scaling's step 1: constraint, step, order, budget. */
import { gridTrials, pointCost, pointLabel, scalingGrid } from '../../../core/scaling-grid';

const DEFAULTS = { gridStep: 0.05, maxCoefficient: 2, costRatio: 2, tolerance: 0.1 };

test('every point is >= 1, on the step, and within tolerance of the cost ratio', () => {
  for (const o of [DEFAULTS, { gridStep: 0.1, maxCoefficient: 1.5, costRatio: 2, tolerance: 0.05 }, { gridStep: 0.025, maxCoefficient: 1.6, costRatio: 3, tolerance: 0.02 }]) {
    const points = scalingGrid(o);
    expect(points.length).toBeGreaterThan(0);
    for (const p of points) {
      for (const c of [p.alpha, p.beta, p.gamma]) {
        expect(c).toBeGreaterThanOrEqual(1);
        expect(c).toBeLessThanOrEqual(o.maxCoefficient + 1e-9);
        const steps = (c - 1) / o.gridStep;
        expect(Math.abs(steps - Math.round(steps))).toBeLessThan(1e-6);
      }
      expect(p.cost).toBeCloseTo(pointCost(p.alpha, p.beta, p.gamma), 12);
      expect(Math.abs(p.cost - o.costRatio) / o.costRatio).toBeLessThanOrEqual(o.tolerance + 1e-9);
    }
  }
});

test('the grid holds every qualifying point exactly once (brute force agrees)', () => {
  const o = { gridStep: 0.1, maxCoefficient: 2, costRatio: 2, tolerance: 0.1 };
  const values = Array.from({ length: 11 }, (_, i) => Number((1 + i / 10).toFixed(6)));
  const expected = new Set<string>();
  for (const a of values) for (const b of values) for (const g of values) if (Math.abs(a * b * b * g * g - 2) / 2 <= 0.1) expected.add(pointLabel({ alpha: a, beta: b, gamma: g }));
  const labels = scalingGrid(o).map(pointLabel);
  expect(new Set(labels).size).toBe(labels.length);
  expect(new Set(labels)).toEqual(expected);
});

test('the paper point (1.2, 1.1, 1.15) is on the default grid and the order is closest-first and repeatable', () => {
  const points = scalingGrid(DEFAULTS);
  expect(points.map(pointLabel)).toContain('1.2_1.1_1.15');
  for (let i = 1; i < points.length; i++) expect(points[i].deviation).toBeGreaterThanOrEqual(points[i - 1].deviation - 1e-12);
  expect(scalingGrid(DEFAULTS)).toEqual(points);
});

test('the trial budget keeps the closest points; labels carry no float noise', () => {
  const all = scalingGrid(DEFAULTS);
  const picked = gridTrials({ ...DEFAULTS, trialBudget: 16 });
  expect(picked).toEqual(all.slice(0, 16));
  for (const p of picked) expect(pointLabel(p)).toMatch(/^\d(\.\d{1,2})?_\d(\.\d{1,2})?_\d(\.\d{1,2})?$/);
});

test('an impossible constraint yields an empty grid rather than points outside it', () => {
  expect(scalingGrid({ gridStep: 0.5, maxCoefficient: 1.5, costRatio: 8, tolerance: 0.01 })).toEqual([]);
});
