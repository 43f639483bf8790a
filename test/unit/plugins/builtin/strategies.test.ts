import { seededRng, simulateStrategy, type TrialResult } from '../../../../plugins';
import random from '../../../../plugins/builtin/random';
import evolution, { mutate, tournament, type EvolutionState } from '../../../../plugins/builtin/regularized-evolution';
import { replayProblem } from '../../../../plugins/check';

const space = { options: [4, 4, 4, 4, 4, 4, 4, 4] };
// A separable objective with one best architecture (all 3s), so search progress is measurable.
const score = (choices: number[]) => -choices.reduce((sum, c) => sum + (c - 3) ** 2, 0);

describe.each([
  ['random', random],
  ['regularized-evolution', evolution],
] as const)('%s', (_name, plugin) => {
  it('replays identically from a seed and differs across seeds', () => {
    const a = simulateStrategy(plugin, { space, seed: 1, score });
    expect(simulateStrategy(plugin, { space, seed: 1, score })).toEqual(a);
    expect(simulateStrategy(plugin, { space, seed: 2, score }).trials).not.toEqual(a.trials);
  });

  it('spends exactly its budget, with choices inside the space', () => {
    const { trials } = simulateStrategy(plugin, { space, seed: 3, score, config: { trials: 30 } });
    expect(trials.map((t) => t.trial)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    for (const t of trials) {
      t.choices.forEach((c, i) => {
        expect(c).toBeGreaterThanOrEqual(0);
        expect(c).toBeLessThan(space.options[i]);
      });
    }
  });

  it('keeps a JSON state that passes the replay check', () => {
    expect(replayProblem(plugin)).toBeNull();
  });

  it('reports the best observed trial', () => {
    const { trials, best } = simulateStrategy(plugin, { space, seed: 4, score });
    expect(best!.score).toBe(Math.max(...trials.map((t) => t.score)));
  });
});

describe('regularized evolution', () => {
  const ctx = { config: evolution.configSchema.parse({ population: 4, sampleSize: 2, trials: 10 }), space };

  it('starts with population-many random trials, then mutates one decision of a tournament winner', () => {
    const { trials } = simulateStrategy(evolution, { space, seed: 9, score, config: { population: 4, sampleSize: 2, trials: 10 } });
    const seen = trials.slice(0, 4);
    for (const child of trials.slice(4)) {
      const parents = seen.filter((p) => p.choices.filter((c, i) => c !== child.choices[i]).length === 1);
      expect(parents.length).toBeGreaterThan(0);
      seen.push(child);
    }
  });

  it('removes the oldest member, not the worst', () => {
    let state: EvolutionState = evolution.init(ctx);
    const results: TrialResult[] = [100, 1, 2, 3, 4].map((s, trial) => ({ trial, choices: [0, 0, 0, 0, 0, 0, 0, 0], score: s }));
    for (const r of results) state = evolution.observe(state, r, ctx);
    expect(state.population.map((p) => p.score)).toEqual([1, 2, 3, 4]);
    expect(state.best!.score).toBe(100);
  });

  it('waits when the random phase is out and no result is back yet', () => {
    let state = evolution.init(ctx);
    for (let i = 0; i < 4; i++) state = evolution.propose(state, seededRng(1, i), ctx).state;
    expect(evolution.propose(state, seededRng(1, 4), ctx)).toEqual({ state, candidate: null, done: false });
  });

  it('beats random search on the same budget', () => {
    const mean = (plugin: typeof random | typeof evolution) =>
      [1, 2, 3, 4, 5, 6, 7, 8].reduce((sum, seed) => sum + simulateStrategy(plugin, { space, seed, score, config: { trials: 120 } }).best!.score, 0) / 8;
    expect(mean(evolution)).toBeGreaterThan(mean(random));
  });

  it('mutate changes exactly one decision that has a choice', () => {
    for (let i = 0; i < 50; i++) {
      const child = mutate([0, 0, 0], [1, 3, 1], seededRng(i));
      expect(child[0]).toBe(0);
      expect(child[2]).toBe(0);
      expect(child[1]).not.toBe(0);
    }
    expect(mutate([0, 0], [1, 1], seededRng(1))).toEqual([0, 0]);
  });

  it('tournament picks the best of its sample, ties to the older', () => {
    const pop = [5, 9, 9, 1].map((score, trial) => ({ trial, choices: [], score }));
    expect(tournament(pop, 4, seededRng(3)).trial).toBe(1);
  });

  it('rejects configs that cannot work', () => {
    expect(evolution.configSchema.safeParse({ population: 4, sampleSize: 5 }).success).toBe(false);
    expect(evolution.configSchema.safeParse({ population: 50, trials: 10 }).success).toBe(false);
  });
});
