import { kendallTau } from '../../../benchmarks/rank-correlation';

describe('kendallTau', () => {
  it('is 1 for the same order and -1 for the reverse, whatever the scale', () => {
    expect(kendallTau([1, 2, 3, 4], [10, 20, 25, 90])).toBeCloseTo(1, 12);
    expect(kendallTau([1, 2, 3, 4], [0.9, 0.5, 0.2, 0.1])).toBeCloseTo(-1, 12);
  });

  it('counts agreeing minus disagreeing pairs over all pairs', () => {
    // Pairs of [1,2,3,4] vs [1,3,2,4]: only (2,3) disagrees: (5 - 1) / 6.
    expect(kendallTau([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(4 / 6, 12);
  });

  it('takes ties as tau-b does: a pair tied in one scoring counts in the other scoring\'s denominator only', () => {
    // 5 agreeing pairs, 1 tied in x only: 5 / sqrt(6 * 5).
    expect(kendallTau([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(5 / Math.sqrt(30), 12);
    expect(kendallTau([1, 1, 2, 2], [1, 2, 1, 2])).toBeCloseTo(0, 12);
    expect(kendallTau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4])).toBeCloseTo(0.4, 12);
  });

  it('refuses scorings of different lengths', () => {
    expect(() => kendallTau([1, 2], [1])).toThrow(/2 scores against 1/);
  });
});
