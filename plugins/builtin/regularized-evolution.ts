/**
 * Regularized (aging) evolution, Real et al. 2019 ("Regularized Evolution for Image Classifier
 * Architecture Search"): a tournament picks the best of a random sample as parent, its one-decision
 * mutation joins the population, and the *oldest* member leaves. Removing by age rather than by
 * score keeps lucky evaluations from living forever, which the paper found more robust to noise.
 */
import { definePlugin, z, type Choices, type Rng, type TrialResult } from '../api';

export interface EvolutionState {
  proposed: number;
  /** Oldest first. */
  population: TrialResult[];
  best: TrialResult | null;
}

/** Changes one decision that has a choice to a different option; a space with no choice is copied. */
export function mutate(parent: Choices, options: readonly number[], rng: Rng): Choices {
  const mutable = options.flatMap((n, i) => (n > 1 ? [i] : []));
  if (mutable.length === 0) return [...parent];
  const at = mutable[Math.floor(rng.next() * mutable.length)];
  const child = [...parent];
  child[at] = (parent[at] + 1 + Math.floor(rng.next() * (options[at] - 1))) % options[at];
  return child;
}

/** The best of `size` members drawn without replacement; ties go to the older member. */
export function tournament(population: readonly TrialResult[], size: number, rng: Rng): TrialResult {
  const indices = population.map((_, i) => i);
  const k = Math.min(size, indices.length);
  let winner: number | null = null;
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng.next() * (indices.length - i));
    [indices[i], indices[j]] = [indices[j], indices[i]];
    const pick = indices[i];
    if (winner === null || population[pick].score > population[winner].score || (population[pick].score === population[winner].score && pick < winner)) {
      winner = pick;
    }
  }
  return population[winner ?? 0];
}

export default definePlugin({
  kind: 'search-strategy',
  mode: 'multi-trial',
  name: 'regularized-evolution',
  version: '1.0.0',
  description: 'aging evolution: tournament selection, one-decision mutations, oldest member removed',
  configSchema: z
    .object({
      population: z.number().int().min(2).max(1000).default(20).describe('Members kept alive; the first this many trials are random.'),
      sampleSize: z.number().int().min(1).max(1000).default(5).describe('Tournament size: members sampled to pick each parent.'),
      trials: z.number().int().min(2).max(100_000).default(100).describe('Architectures to train in total, random ones included.'),
    })
    .strict()
    .refine((c) => c.sampleSize <= c.population, { path: ['sampleSize'], message: 'must not exceed population' })
    .refine((c) => c.trials >= c.population, { path: ['trials'], message: 'must be at least population (the first population trials are random)' }),
  init: (): EvolutionState => ({ proposed: 0, population: [], best: null }),
  propose(state, rng, { config, space }) {
    if (state.proposed >= config.trials) return { state, candidate: null, done: true };
    let choices: Choices;
    if (state.proposed < config.population) {
      choices = space.options.map((n) => Math.floor(rng.next() * n));
    } else if (state.population.length === 0) {
      return { state, candidate: null, done: false };
    } else {
      choices = mutate(tournament(state.population, config.sampleSize, rng).choices, space.options, rng);
    }
    return { state: { ...state, proposed: state.proposed + 1 }, candidate: { trial: state.proposed, choices }, done: false };
  },
  observe(state, result, { config }) {
    const population = [...state.population, result];
    if (population.length > config.population) population.shift();
    const best = state.best && state.best.score >= result.score ? state.best : result;
    return { ...state, population, best };
  },
  best: (state) => state.best,
});
