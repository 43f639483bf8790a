/**
 * The end of a search: per mixed op the option with the largest logit, written as an ArchSpec
 * (one block entry per kept position, zero ops dropped) that `buildArchModel` builds and retrains.
 */
import { archFromChoices } from '../arch/from-choices';
import type { Activation, ArchSpec } from '../arch/spec';
import type { SearchSpace } from '../../core/space';
import { argmax, entropy, softmax, type Logits } from './alpha';

export interface DeriveOptions {
  numClasses: number;
  inputChannels: number;
  resolution: number;
  activation?: Activation;
  name?: string;
}

export interface DerivedArchitecture {
  arch: ArchSpec;
  /** Option index per decision (the argmax). */
  choices: number[];
  /** softmax(alpha) per decision, for logging. */
  probabilities: number[][];
  /** Entropy (nats) per decision: 0 once an op has settled, ln(N) while undecided. */
  entropy: number[];
}

/** The concrete architecture of one option per decision (argmax or any sampled choice). */
export function archOfChoices(space: SearchSpace, choices: readonly number[], o: DeriveOptions): ArchSpec {
  return archFromChoices(space, choices, { ...o, name: o.name ?? 'proxyless-derived' });
}

export function deriveArchitecture(space: SearchSpace, alpha: Logits, o: DeriveOptions): DerivedArchitecture {
  const choices = alpha.map(argmax);
  const probabilities = alpha.map(softmax);
  return { arch: archOfChoices(space, choices, o), choices, probabilities, entropy: probabilities.map(entropy) };
}
