/**
 * ProxylessNAS's architecture update rules on plain numbers (Cai et al., 2019): the BinaryConnect
 * gradient through binarised gates and its two-path rescaling, and REINFORCE's score function with
 * an entropy bonus. They are the strategies' (plugins/builtin/proxyless.ts), not the supernet's:
 * the supernet only measures dL/dg or a reward.
 */
import type { ArchitectureLogits } from '../api';
import { entropy, logSumExp, softmax } from '../../engine/supernet/alpha';

/**
 * BinaryConnect-style gradient of the loss with respect to the logits of a sampled subset
 * (ProxylessNAS eq. 4 restricted to the subset): dL/dalpha_i = sum_j dL/dg_j p~_j (delta_ij - p~_i),
 * with p~ the softmax over the subset's logits only. `subsetLogits[j]`, `gateGrads[j]` belong to the
 * same sampled path j.
 */
export function binaryConnectGradient(subsetLogits: readonly number[], gateGrads: readonly number[]): number[] {
  const p = softmax(subsetLogits);
  return p.map((pi, i) => {
    let g = 0;
    for (let j = 0; j < p.length; j++) g += gateGrads[j] * p[j] * ((i === j ? 1 : 0) - pi);
    return g;
  });
}

/**
 * Shifts the updated subset's logits by one common offset so that the sum of exp over the subset
 * equals its value before the update. Then the softmax normaliser of the whole op is unchanged and
 * every option outside the subset keeps its probability exactly (up to rounding); only the mass
 * inside the subset is redistributed. Returns a new vector.
 */
export function rescaleSubset(before: readonly number[], after: readonly number[], subset: readonly number[]): number[] {
  const offset = logSumExp(subset.map((i) => after[i])) - logSumExp(subset.map((i) => before[i]));
  const out = after.slice();
  for (const i of subset) out[i] -= offset;
  return out;
}

/** d log p(g) / d alpha_i = onehot(g)_i - p_i: REINFORCE's score function for one decision. */
export function scoreFunction(alpha: readonly number[], chosen: number): number[] {
  return softmax(alpha).map((p, i) => (i === chosen ? 1 : 0) - p);
}

/** dH/dalpha_i = -p_i (log p_i + H): lets REINFORCE add an entropy bonus that delays collapse. */
export function entropyGradient(alpha: readonly number[]): number[] {
  const p = softmax(alpha);
  const h = entropy(p);
  return p.map((q) => (q > 0 ? -q * (Math.log(q) + h) : 0));
}

/**
 * The REINFORCE loss gradient for the logits (to be minimised): -(R - b) * (onehot(g) - p) per
 * decision, minus the entropy bonus's gradient. Plain SGD on it is alpha += lr (R - b)(onehot - p).
 */
export function reinforceGradient(alpha: ArchitectureLogits, gates: readonly number[], advantage: number, entropyWeight = 0): ArchitectureLogits {
  return alpha.map((a, d) => {
    const score = scoreFunction(a, gates[d]);
    const ent = entropyWeight > 0 ? entropyGradient(a) : null;
    return score.map((s, i) => -advantage * s - (ent ? entropyWeight * ent[i] : 0));
  });
}
