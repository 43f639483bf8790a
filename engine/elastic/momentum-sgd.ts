/**
 * Synchronous momentum SGD on flat vectors, as the coordinator applies it: v = mu v + lr g, w -= v.
 * The rate lives inside the buffer (MXNet's form); with momentum correction the buffer is first
 * rescaled by lr / lr_previous (Goyal et al. 2017), so a changing rate changes past and present
 * gradients alike.
 */
export class MomentumSgd {
  readonly velocity: Float32Array;
  /** The rate of the last applied step; 0 before the first. */
  lastRate = 0;

  constructor(
    size: number,
    readonly momentum: number,
  ) {
    this.velocity = new Float32Array(size);
  }

  apply(weights: Float32Array, gradient: Float32Array, rate: number, correctMomentum: boolean): void {
    if (gradient.length !== weights.length || weights.length !== this.velocity.length) {
      throw new Error(`size mismatch: weights ${weights.length}, gradient ${gradient.length}, velocity ${this.velocity.length}`);
    }
    const v = this.velocity;
    const decay = this.momentum * (correctMomentum && this.lastRate > 0 ? rate / this.lastRate : 1);
    for (let i = 0; i < v.length; i++) {
      v[i] = decay * v[i] + rate * gradient[i];
      weights[i] -= v[i];
    }
    this.lastRate = rate;
  }
}

/** sum_i counts_i x_i / sum_i counts_i, element-wise: the gradient of the whole global batch. */
export function weightedMean(vectors: readonly Float32Array[], counts: readonly number[]): Float32Array {
  const total = counts.reduce((a, b) => a + b, 0);
  const out = new Float32Array(vectors[0].length);
  vectors.forEach((vec, k) => {
    const w = counts[k] / total;
    for (let i = 0; i < out.length; i++) out[i] += w * vec[i];
  });
  return out;
}
