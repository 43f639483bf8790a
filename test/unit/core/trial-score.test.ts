/** How a multi-trial search ranks a trial (accuracy less the latency penalty), and compound scaling's reward. */
import { accuracyLatencyReward, trialScore } from '../../../core/objectives';

const trial = (validationAccuracy: number, latencyMs?: number) => ({ trial: 0, choices: [0], archKey: 'a', blocks: [], params: 1, macs: 1, trainSeconds: 1, validationAccuracy, latencyMs });

describe('trialScore', () => {
  it('is the accuracy when latency plays no part or was not measured', () => {
    expect(trialScore(trial(0.9, 3), undefined)).toBe(0.9);
    expect(trialScore(trial(0.9), { weight: 1, referenceMs: 2 })).toBe(0.9);
  });
  it('linear (the default) prices every reference millisecond the same', () => {
    expect(trialScore(trial(0.9, 3), { weight: 0.1, referenceMs: 2 })).toBeCloseTo(0.9 - 0.15, 12);
    expect(trialScore(trial(0.9, 1), { weight: 0.1, referenceMs: 2, penalty: 'linear' })).toBeCloseTo(0.9 - 0.05, 12);
  });
  it('absolute penalises missing the reference on either side alike, and not hitting it', () => {
    const latency = { weight: 0.5, referenceMs: 4, penalty: 'absolute' as const };
    expect(trialScore(trial(0.9, 4), latency)).toBeCloseTo(0.9, 12);
    expect(trialScore(trial(0.9, 3), latency)).toBeCloseTo(0.9 - 0.125, 12);
    expect(trialScore(trial(0.9, 5), latency)).toBeCloseTo(0.9 - 0.125, 12);
  });
});

describe('accuracyLatencyReward', () => {
  it('is the accuracy at the reference latency, and 2^-w of it at twice the reference', () => {
    expect(accuracyLatencyReward(0.9, 4, 4, 0.07)).toBeCloseTo(0.9, 12);
    expect(accuracyLatencyReward(0.9, 8, 4, 0.07)).toBeCloseTo(0.9 * 2 ** -0.07, 12);
    expect(accuracyLatencyReward(0.9, 2, 4, 0.07)).toBeGreaterThan(0.9);
  });
});
