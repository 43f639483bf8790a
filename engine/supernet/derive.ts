/**
 * The end of a search: per mixed op the option with the largest logit, written as an ArchSpec
 * (one block entry per kept position, zero ops dropped) that `buildArchModel` builds and retrains.
 * With a latency budget, the most likely net that meets it (./budgeted-choice.ts), which is the
 * argmax whenever the argmax meets it.
 */
import { archFromChoices } from '../arch/from-choices';
import type { Activation, ArchSpec } from '../arch/spec';
import type { SearchSpace } from '../../core/space';
import { argmax, entropy, softmax, type Logits } from './alpha';
import { mostLikelyWithinBudget } from './budgeted-choice';

export interface DeriveOptions {
  numClasses: number;
  inputChannels: number;
  resolution: number;
  activation?: Activation;
  name?: string;
  /** The mixed ops' latency budget: `costs` per (decision, option), zero ops at 0, and the most they may sum to. */
  budget?: { costs: readonly (readonly number[])[]; ms: number };
}

export interface DerivedArchitecture {
  arch: ArchSpec;
  /** Option index per decision (the argmax, or with a budget the most likely net within it). */
  choices: number[];
  /** softmax(alpha) per decision, for logging. */
  probabilities: number[][];
  /** Entropy (nats) per decision: 0 once an op has settled, ln(N) while undecided. */
  entropy: number[];
  /** With a budget: the derived net's mixed-op latency by the costs, and whether any net met the budget (else this is the cheapest). */
  budget?: { costMs: number; budgetMs: number; withinBudget: boolean };
}

/** The concrete architecture of one option per decision (argmax or any sampled choice). */
export function archOfChoices(space: SearchSpace, choices: readonly number[], o: DeriveOptions): ArchSpec {
  return archFromChoices(space, choices, { ...o, name: o.name ?? 'proxyless-derived' });
}

export function deriveArchitecture(space: SearchSpace, alpha: Logits, o: DeriveOptions): DerivedArchitecture {
  const probabilities = alpha.map(softmax);
  const { budget: limit, ...naming } = o;
  const budgeted = limit ? mostLikelyWithinBudget(alpha, limit.costs, limit.ms) : undefined;
  const choices = budgeted ? budgeted.choices : alpha.map(argmax);
  return {
    arch: archOfChoices(space, choices, naming),
    choices,
    probabilities,
    entropy: probabilities.map(entropy),
    ...(budgeted && limit ? { budget: { costMs: budgeted.costMs, budgetMs: limit.ms, withinBudget: budgeted.withinBudget } } : {}),
  };
}
