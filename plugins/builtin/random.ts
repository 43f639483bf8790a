/**
 * Random search: every trial samples each decision uniformly. A strong baseline for NAS (Li and
 * Talwalkar, 2019), and the yardstick every other strategy must beat on the same budget.
 */
import { definePlugin, z, type TrialResult } from '../api';

export interface RandomSearchState {
  proposed: number;
  best: TrialResult | null;
}

export default definePlugin({
  kind: 'search-strategy',
  mode: 'multi-trial',
  name: 'random',
  version: '1.0.0',
  description: 'uniform random sampling of the search space',
  configSchema: z
    .object({
      trials: z.number().int().min(1).max(10_000).default(20).describe('Architectures to train in total.'),
    })
    .strict(),
  init: (): RandomSearchState => ({ proposed: 0, best: null }),
  propose(state, rng, { config, space }) {
    if (state.proposed >= config.trials) return { state, candidate: null, done: true };
    const choices = space.options.map((n) => Math.floor(rng.next() * n));
    return { state: { ...state, proposed: state.proposed + 1 }, candidate: { trial: state.proposed, choices }, done: false };
  },
  observe(state, result) {
    return state.best && state.best.score >= result.score ? state : { ...state, best: result };
  },
  best: (state) => state.best,
});
