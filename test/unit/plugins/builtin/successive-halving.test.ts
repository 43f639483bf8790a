import { simulateStrategy } from '../../../../plugins';
import { replayProblem } from '../../../../plugins/check';
import halving, { rungEpochs } from '../../../../plugins/builtin/successive-halving';
import { budgetUse } from '../../../../workflows/trial-budgets';

const space = { options: [4, 4, 4, 4, 4, 4] };
// Longer training helps every net alike; the architecture decides the order (all 3s is best).
const quality = (choices: number[]) => -choices.reduce((sum, c) => sum + (c - 3) ** 2, 0);
const score = (choices: number[], epochs: number | undefined) => quality(choices) + (epochs ?? 0);

describe('successive-halving', () => {
  it('trains every candidate on the smallest budget and promotes the best 1/eta to eta times it', () => {
    const { trials, best } = simulateStrategy(halving, { space, seed: 1, score, epochs: 9, config: { candidates: 27, eta: 3, minEpochs: 1 } });
    const perBudget = (e: number) => trials.filter((t) => t.epochs === e);
    expect([1, 3, 9].map((e) => perBudget(e).length)).toEqual([27, 9, 3]);
    expect(trials).toHaveLength(39);
    expect(trials.map((t) => t.trial)).toEqual(trials.map((_, i) => i));
    // Each rung is the best of the one below, ranked by score there.
    const top = (e: number, k: number) => [...perBudget(e)].sort((a, b) => b.score - a.score || a.trial - b.trial).slice(0, k).map((t) => t.choices);
    expect(perBudget(3).map((t) => t.choices)).toEqual(top(1, 9));
    expect(perBudget(9).map((t) => t.choices)).toEqual(top(3, 3));
    // The pick is the best of the last rung, never a low-budget score.
    expect(best).toEqual(perBudget(9).reduce((a, b) => (b.score > a.score ? b : a)));
  });

  it('stops at maxEpochs, caps the last budget, and draws distinct first-rung nets', () => {
    const { trials } = simulateStrategy(halving, { space, seed: 2, score, config: { candidates: 8, eta: 2, minEpochs: 2, maxEpochs: 5 } });
    expect(trials.map((t) => t.epochs)).toEqual([...Array(8).fill(2), ...Array(4).fill(4), ...Array(2).fill(5)]);
    expect(new Set(trials.slice(0, 8).map((t) => t.choices.join())).size).toBe(8);
    expect(rungEpochs(5, { minEpochs: 1, eta: 3 }, 100)).toBe(100);
  });

  it('ends with one rung when too few candidates are left to halve', () => {
    const { trials, best } = simulateStrategy(halving, { space, seed: 3, score, epochs: 4, config: { candidates: 2, eta: 3 } });
    expect(trials.map((t) => t.epochs)).toEqual([1, 1]);
    expect(best?.score).toBe(Math.max(...trials.map((t) => t.score)));
  });

  it('replays identically from a seed and keeps a JSON state', () => {
    const run = () => simulateStrategy(halving, { space, seed: 5, score, epochs: 9 });
    expect(run()).toEqual(run());
    expect(replayProblem(halving)).toBeNull();
  });

  it('waits for a rung to finish before promoting', () => {
    const ctx = { config: halving.configSchema.parse({ candidates: 3, eta: 3 }), space, epochs: 3 };
    let state = halving.init(ctx);
    for (let i = 0; i < 3; i++) state = halving.propose(state, { next: () => 0.5 }, ctx).state;
    expect(halving.propose(state, { next: () => 0.5 }, ctx)).toMatchObject({ candidate: null, done: false });
  });
});

describe('budgetUse', () => {
  const trial = (choices: number[], epochs: number | undefined, trainSeconds: number, fitSeconds?: number) => ({ choices, epochs, trainSeconds, fitSeconds });

  it('is undefined for a search whose trials had no budgets of their own', () => {
    expect(budgetUse([trial([0], undefined, 5)], 3)).toBeUndefined();
  });

  it('prices every candidate at the full budget from its own longest trial, its fixed seconds once', () => {
    // a: 1 epoch (fit 2 s of 3 s), then 3 epochs (fit 6 s of 7 s); b: 1 epoch only (fit 4 s of 5 s).
    const use = budgetUse([trial([0], 1, 3, 2), trial([1], 1, 5, 4), trial([0], 3, 7, 6)], 3)!;
    expect(use.rungs).toEqual([
      { epochs: 1, trials: 2, trainSeconds: 8 },
      { epochs: 3, trials: 1, trainSeconds: 7 },
    ]);
    expect(use).toMatchObject({ candidates: 2, fullEpochs: 3, trainSeconds: 15 });
    // a at 3 epochs: 1 + 2 * 3 = 7; b at 3 epochs: 1 + 4 * 3 = 13.
    expect(use.fullBudgetSeconds).toBeCloseTo(20, 9);
  });
});
