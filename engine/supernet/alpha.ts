/**
 * The architecture parameters' arithmetic, on plain numbers: softmax, gate sampling and the
 * ProxylessNAS update rules. No tensors here, so the rules are exact in double precision, cheap to
 * test by the thousand, and callable from strategy plugins that never load TensorFlow.
 *
 * Alpha is `number[][]`: one logit vector per decision (mixed op), the same shape as the plugin
 * contract's `ArchitectureLogits`.
 */

export type Logits = number[][];

export function logSumExp(xs: readonly number[]): number {
  const m = Math.max(...xs);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/** softmax with the max subtracted, so large logits do not overflow. */
export function softmax(xs: readonly number[]): number[] {
  const lse = logSumExp(xs);
  return xs.map((x) => Math.exp(x - lse));
}

export function entropy(p: readonly number[]): number {
  let h = 0;
  for (const q of p) if (q > 0) h -= q * Math.log(q);
  return h;
}

/** First index of the largest value: ties go to the earlier option, so derivation is deterministic. */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** One draw from a categorical distribution given a uniform u in [0, 1). */
export function sampleIndex(p: readonly number[], u: number): number {
  let acc = 0;
  for (let i = 0; i < p.length; i++) {
    acc += p[i];
    if (u < acc) return i;
  }
  // u can exceed the accumulated sum by rounding (sum of p slightly below 1): the last non-zero wins.
  for (let i = p.length - 1; i >= 0; i--) if (p[i] > 0) return i;
  return p.length - 1;
}

/**
 * k distinct indices drawn one after another from p renormalised over what is left (what
 * torch.multinomial(p, k, replacement=False) does, which the paper's code uses).
 */
export function sampleWithoutReplacement(p: readonly number[], k: number, rand: () => number): number[] {
  const take = Math.min(k, p.length);
  const left = p.slice();
  const out: number[] = [];
  for (let n = 0; n < take; n++) {
    const total = left.reduce((a, b) => a + b, 0);
    // All remaining mass may have underflowed to 0; fall back to uniform over the unpicked options.
    const weights = total > 0 ? left.map((q) => q / total) : left.map((_, i) => (out.includes(i) ? 0 : 1 / (p.length - out.length)));
    const i = sampleIndex(weights, rand());
    out.push(i);
    left[i] = 0;
  }
  return out;
}

/** Binary gates of a whole network: one active option per decision, drawn from softmax(alpha). */
export function sampleGates(alpha: Logits, rand: () => number): number[] {
  return alpha.map((a) => sampleIndex(softmax(a), rand()));
}

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
export function reinforceGradient(alpha: Logits, gates: readonly number[], advantage: number, entropyWeight = 0): Logits {
  return alpha.map((a, d) => {
    const score = scoreFunction(a, gates[d]);
    const ent = entropyWeight > 0 ? entropyGradient(a) : null;
    return score.map((s, i) => -advantage * s - (ent ? entropyWeight * ent[i] : 0));
  });
}
