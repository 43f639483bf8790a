import { definePlugin, z, type TrialResult } from 'hwnas/plugins';

/** Random nets until the first result is in, then one-decision changes of the best so far. */
export default definePlugin({
  kind: 'search-strategy',
  mode: 'multi-trial',
  name: 'my-hill-climb',
  version: '0.1.0',
  configSchema: z.object({ trials: z.number().int().min(1).default(20) }).strict(),
  init: () => ({ proposed: 0, best: null as TrialResult | null }),
  propose(state, rng, { config, space }) {
    if (state.proposed >= config.trials) return { state, candidate: null, done: true };
    const choices = state.best ? [...state.best.choices] : space.options.map((n) => Math.floor(rng.next() * n));
    if (state.best) {
      const at = Math.floor(rng.next() * choices.length);
      choices[at] = Math.floor(rng.next() * space.options[at]);
    }
    // `epochs: N` in the candidate would give this trial a budget of its own (multi-fidelity).
    return { state: { ...state, proposed: state.proposed + 1 }, candidate: { trial: state.proposed, choices }, done: false };
  },
  observe: (state, result) => (state.best && state.best.score >= result.score ? state : { ...state, best: result }),
  best: (state) => state.best,
});
