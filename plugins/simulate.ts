/**
 * Runs a multi-trial strategy the way the search workflow does, one trial at a time, with a score
 * function instead of training. For plugin tests and for `nas plugin check`'s replay test.
 */
import type { Choices, MultiTrialStrategyPlugin, SearchSpaceShape, TrialResult } from './api';
import { seededRng } from '../core/random';

export interface SimulationResult {
  trials: TrialResult[];
  best: TrialResult | null;
}

export function simulateStrategy<S>(
  plugin: MultiTrialStrategyPlugin<any, S>, // any: callers pass plugins whose config schema type they do not know
  options: {
    config?: unknown;
    space: SearchSpaceShape;
    seed: number;
    /** A stand-in for training: gets the candidate's budget (its epochs, else the search's). */
    score: (choices: Choices, epochs: number | undefined) => number;
    /** The search's `epochs`, as the workflow passes it in the strategy's context. */
    epochs?: number;
    maxCalls?: number;
  },
): SimulationResult {
  const config = plugin.configSchema.parse(options.config ?? {});
  const ctx = { config, space: options.space, epochs: options.epochs };
  let state = plugin.init(ctx);
  const trials: TrialResult[] = [];
  const maxCalls = options.maxCalls ?? 100_000;
  for (let call = 0; call < maxCalls; call++) {
    const proposal = plugin.propose(state, seededRng(options.seed, call), ctx);
    state = proposal.state;
    if (proposal.done) break;
    if (!proposal.candidate) throw new Error(`${plugin.name}: proposed nothing while no trial was pending`);
    const epochs = proposal.candidate.epochs ?? options.epochs;
    const result = { ...proposal.candidate, score: options.score(proposal.candidate.choices, epochs) };
    trials.push(result);
    state = plugin.observe(state, result, ctx);
  }
  return { trials, best: plugin.best(state) };
}
