/** How the scaling stage picks its coefficients from the trained grid points. */
import type { ScalingTrialResult } from '../../../activities/scaling-trial';
import { chooseCandidate, rankCandidates } from '../../../workflows/compound-scaling';

function point(alpha: number, accuracy: number, macs: number, latencyMs?: number): ScalingTrialResult & { cost: number } {
  return { alpha, beta: 1.1, gamma: 1.15, cost: 2, resolution: 32, blocks: [], validationAccuracy: accuracy, params: 1, macs, latencyMs, trainSeconds: 1, archKey: 'k' };
}

test('accuracy: the most accurate point wins; a tie goes to fewer MACs', () => {
  const c = rankCandidates([point(1.1, 0.8, 200), point(1.2, 0.85, 300), point(1.3, 0.85, 250)], { objective: 'accuracy' });
  expect(chooseCandidate(c)?.alpha).toBe(1.3);
});

test('accuracy-latency: accuracy * (LAT / median LAT)^-0.07 trades a little accuracy for much less latency', () => {
  const results = [point(1.1, 0.8, 100, 1), point(1.2, 0.81, 400, 8), point(1.3, 0.79, 200, 2)];
  const c = rankCandidates(results, { objective: 'accuracy-latency' });
  // Median latency 2 ms: 0.8 * 0.5^-0.07 = 0.8398 beats 0.81 * 4^-0.07 = 0.7351 and 0.79.
  expect(c.map((x) => Number(x.score.toFixed(4)))).toEqual([0.8398, 0.7351, 0.79]);
  expect(chooseCandidate(c)?.alpha).toBe(1.1);
  expect(chooseCandidate(rankCandidates(results, { objective: 'accuracy' }))?.alpha).toBe(1.2);
});

test('limits keep over-budget points out of the choice, and nothing eligible chooses nothing', () => {
  const results = [point(1.1, 0.8, 100, 1), point(1.2, 0.9, 400, 8)];
  expect(chooseCandidate(rankCandidates(results, { objective: 'accuracy', limits: { latencyMs: 5 } }))?.alpha).toBe(1.1);
  expect(chooseCandidate(rankCandidates(results, { objective: 'accuracy', limits: { macs: 300 } }))?.alpha).toBe(1.1);
  expect(chooseCandidate(rankCandidates(results, { objective: 'accuracy', limits: { macs: 50 } }))).toBeUndefined();
});
