/**
 * The distribution the architecture parameters define, on plain numbers: softmax, entropy, argmax
 * and gate sampling. The supernet samples its weight steps' gates with it and strategies their
 * architecture steps' (the update rules themselves belong to the strategies: see
 * plugins/builtin/proxyless-rules.ts). No tensors here, so it is exact in double precision and
 * callable from strategy plugins that never load TensorFlow.
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
