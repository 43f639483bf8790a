/**
 * The measurement procedure without TensorFlow: warm-up runs are untimed and reported as progress,
 * the summary is the interpolated median and 90th percentile of the timed runs.
 */
import { quantile, summarizeRuns, timeRuns } from '../../../../engine/latency/timing';

test('quantiles interpolate between order statistics', () => {
  expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
  expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9)).toBe(10);
  expect(quantile([10, 20], 0.9)).toBeCloseTo(19, 12);
  expect(quantile([7], 0.9)).toBe(7);
});

test('the summary sorts the runs first and counts them', () => {
  const s = summarizeRuns([5, 1, 4, 2, 3]);
  expect(s.medianMs).toBe(3);
  expect(s.p90Ms).toBeCloseTo(4.6, 12);
  expect(s.repeats).toBe(5);
});

test('warm-up runs come first and untimed; progress counts every run of the total', async () => {
  let calls = 0;
  const progress: [number, number][] = [];
  const result = await timeRuns(
    async () => {
      calls++;
    },
    { warmupRuns: 2, repeats: 3, onProgress: (done, total) => progress.push([done, total]) },
  );
  expect(calls).toBe(5);
  expect(progress).toEqual([
    [1, 5],
    [2, 5],
    [3, 5],
    [4, 5],
    [5, 5],
  ]);
  expect(result.repeats).toBe(3);
  expect(result.p90Ms).toBeGreaterThanOrEqual(result.medianMs);
});

test('a slow run lands in the tail, not in the median', async () => {
  let i = 0;
  const slowAt = 9;
  const result = await timeRuns(
    async () => {
      if (i++ === slowAt) await new Promise((r) => setTimeout(r, 60));
    },
    { warmupRuns: 0, repeats: 10 },
  );
  expect(result.medianMs).toBeLessThan(30);
  expect(result.p90Ms).toBeGreaterThan(result.medianMs);
});
