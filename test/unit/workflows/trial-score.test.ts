/** How a multi-trial search ranks a trial: accuracy less the latency penalty. */
import { trialScore } from '../../../workflows/multi-trial-search';

const target = { id: 'cpu', plugin: 'macs', config: {} };
const trial = (validationAccuracy: number, latencyMs?: number) => ({ trial: 0, choices: [0], archKey: 'a', blocks: [], params: 1, macs: 1, trainSeconds: 1, validationAccuracy, latencyMs });

describe('trialScore', () => {
  it('is the accuracy when latency plays no part or was not measured', () => {
    expect(trialScore(trial(0.9, 3), undefined)).toBe(0.9);
    expect(trialScore(trial(0.9), { target, weight: 1, referenceMs: 2 })).toBe(0.9);
  });
  it('linear (the default) prices every reference millisecond the same', () => {
    expect(trialScore(trial(0.9, 3), { target, weight: 0.1, referenceMs: 2 })).toBeCloseTo(0.9 - 0.15, 12);
    expect(trialScore(trial(0.9, 1), { target, weight: 0.1, referenceMs: 2, penalty: 'linear' })).toBeCloseTo(0.9 - 0.05, 12);
  });
  it('absolute penalises missing the reference on either side alike, and not hitting it', () => {
    const latency = { target, weight: 0.5, referenceMs: 4, penalty: 'absolute' as const };
    expect(trialScore(trial(0.9, 4), latency)).toBeCloseTo(0.9, 12);
    expect(trialScore(trial(0.9, 3), latency)).toBeCloseTo(0.9 - 0.125, 12);
    expect(trialScore(trial(0.9, 5), latency)).toBeCloseTo(0.9 - 0.125, 12);
  });
});
