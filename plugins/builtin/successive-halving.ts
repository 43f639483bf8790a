/**
 * Successive halving (Jamieson and Talwalkar, 2016; the inner loop of Hyperband, Li et al. 2018):
 * train many random architectures on a small budget, keep the best 1/eta of them, train those on
 * eta times the budget, and so on until one is left or the budget would pass `maxEpochs`. Most of
 * the compute goes to the architectures that looked best, instead of the same number of epochs to
 * every candidate. Written only against the public plugin API, as a user's strategy would be.
 *
 * The result is the best architecture of the last rung: a score earned on a smaller budget never
 * outranks one earned on the largest, since short trainings order architectures only roughly.
 */
import { definePlugin, z, type Choices, type Rng, type TrialResult } from '../api';

export interface SuccessiveHalvingState {
  /** Rung index, from 0; its budget is minEpochs * eta^rung. */
  rung: number;
  /** The architectures of this rung; rung 0's are drawn as they are proposed. */
  members: Choices[];
  /** Of `members`, how many were proposed. */
  proposed: number;
  /** Results of this rung, in the order they came in. */
  results: TrialResult[];
  /** The next trial number, across rungs. */
  nextTrial: number;
  /** The best of the last finished rung. */
  best: TrialResult | null;
  finished: boolean;
}

const Config = z
  .object({
    candidates: z.number().int().min(1).max(10_000).default(27).describe('Random architectures in the first rung (unless `architectures` names them).'),
    architectures: z
      .array(z.array(z.number().int().min(0)))
      .min(1)
      .max(10_000)
      .optional()
      .describe('The first rung, given instead of drawn: one option index per decision for each architecture, in trial order.'),
    eta: z.number().int().min(2).max(16).default(3).describe('Each rung keeps the best 1/eta of the one before, with eta times its budget.'),
    minEpochs: z.number().int().min(1).max(1000).default(1).describe('Training epochs of a first-rung trial.'),
    maxEpochs: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe("The largest budget a trial gets; absent: the search's epochs. No rung is started past it."),
  })
  .strict()
  .refine((c) => c.maxEpochs === undefined || c.maxEpochs >= c.minEpochs, { path: ['maxEpochs'], message: 'must be at least minEpochs' });

/** Rung r's budget, capped at the largest. */
export function rungEpochs(rung: number, config: { minEpochs: number; eta: number }, maxEpochs: number): number {
  return Math.min(maxEpochs, config.minEpochs * config.eta ** rung);
}

function firstRungSize(config: { candidates: number; architectures?: number[][] }): number {
  return config.architectures?.length ?? config.candidates;
}

/** Up to 50 draws for an architecture not drawn before; a space smaller than the rung repeats some. */
function drawNew(options: readonly number[], drawn: readonly Choices[], rng: Rng): Choices {
  const seen = new Set(drawn.map((c) => c.join(',')));
  let choices: Choices = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    choices = options.map((n) => Math.floor(rng.next() * n));
    if (!seen.has(choices.join(','))) break;
  }
  return choices;
}

/** Best first; a tie goes to the earlier trial, so the order does not depend on completion order. */
function ranked(results: readonly TrialResult[]): TrialResult[] {
  return [...results].sort((a, b) => b.score - a.score || a.trial - b.trial);
}

export default definePlugin({
  kind: 'search-strategy',
  mode: 'multi-trial',
  name: 'successive-halving',
  version: '1.0.0',
  description: 'multi-fidelity: many random nets on a small budget, the best 1/eta promoted to eta times the budget',
  configSchema: Config,
  init: (): SuccessiveHalvingState => ({ rung: 0, members: [], proposed: 0, results: [], nextTrial: 0, best: null, finished: false }),
  propose(state, rng, { config, space, epochs }) {
    if (state.finished) return { state, candidate: null, done: true };
    const size = state.rung === 0 ? firstRungSize(config) : state.members.length;
    // The rest of the rung must come in before the next one can be chosen.
    if (state.proposed >= size) return { state, candidate: null, done: false };
    const given = state.rung === 0 ? config.architectures?.[state.proposed] : undefined;
    const choices = state.rung === 0 ? (given ? [...given] : drawNew(space.options, state.members, rng)) : state.members[state.proposed];
    const budget = rungEpochs(state.rung, config, config.maxEpochs ?? epochs ?? config.minEpochs);
    const members = state.rung === 0 ? [...state.members, choices] : state.members;
    return {
      state: { ...state, members, proposed: state.proposed + 1, nextTrial: state.nextTrial + 1 },
      candidate: { trial: state.nextTrial, choices, epochs: budget },
      done: false,
    };
  },
  observe(state, result, { config, epochs }) {
    const results = [...state.results, result];
    const size = state.rung === 0 ? firstRungSize(config) : state.members.length;
    if (results.length < size) return { ...state, results };
    const order = ranked(results);
    const maxEpochs = config.maxEpochs ?? epochs ?? config.minEpochs;
    const keep = Math.floor(size / config.eta);
    const last = keep < 1 || rungEpochs(state.rung, config, maxEpochs) >= maxEpochs;
    if (last) return { ...state, results, best: order[0], finished: true };
    return { ...state, rung: state.rung + 1, members: order.slice(0, keep).map((r) => r.choices), proposed: 0, results: [], best: order[0] };
  },
  best: (state) => state.best,
});
