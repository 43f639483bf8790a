/**
 * How settled a one-shot search is. Its mean path entropy means little alone: 1.2 nats is nearly
 * uniform over 4 options and well settled over 20. Set against the entropy of the uniform
 * distribution over each decision's options, it says whether the derived net was chosen or drawn.
 */
import { decisionsOf, type SearchSpace } from '../dsl/search-space';

/** At or above this share of the uniform entropy the distribution has barely left its start. */
export const NEAR_UNIFORM = 0.9;

/** The mean, over the space's decisions, of ln(options): the search's starting entropy. */
export function maxMeanEntropy(space: Pick<SearchSpace, 'stages'>): number | undefined {
  const decisions = decisionsOf(space);
  if (decisions.length === 0) return undefined;
  return decisions.reduce((sum, d) => sum + Math.log(d.options.length), 0) / decisions.length;
}

export function entropySentence(finalEntropy: number, max: number): { text: string; nearUniform: boolean } | undefined {
  if (!(max > 0) || !Number.isFinite(finalEntropy)) return undefined;
  const share = finalEntropy / max;
  const at = `Entropy after the last epoch: ${finalEntropy.toFixed(3)} nats of ${max.toFixed(3)} for a uniform choice (${Math.round(100 * share)}%).`;
  if (share >= NEAR_UNIFORM) {
    return {
      nearUniform: true,
      text: `${at} The architecture distribution is still near uniform, so the derived net is little more than a random draw from the space; more search epochs (or a higher architecture learning rate) let it settle.`,
    };
  }
  return { nearUniform: false, text: at };
}
