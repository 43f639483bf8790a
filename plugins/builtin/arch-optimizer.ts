/**
 * The optimizer of the architecture logits, on plain numbers with per-entry state, so that an
 * update may touch only some entries (the sampled pair) and the state serialises as JSON.
 * ProxylessNAS uses Adam with betas (0, 0.999) and eps 1e-8: beta1 = 0 means no momentum, so a
 * pair that is rarely sampled is not pushed by stale gradients of earlier steps.
 */
import type { ArchitectureLogits } from '../api';

export interface ArchOptimizerSpec {
  kind: 'adam' | 'sgd';
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** L2 on the logits (the plugin's archWeightDecay): adds wd * alpha to the gradient. */
  weightDecay: number;
}

export const DEFAULT_ARCH_OPTIMIZER: ArchOptimizerSpec = { kind: 'adam', learningRate: 0.006, beta1: 0, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 };

/** JSON-safe state: first and second moments and the per-entry step count (bias correction). */
export interface ArchOptimizerState {
  m: number[][];
  v: number[][];
  t: number[][];
}

export function initArchOptimizerState(alpha: ArchitectureLogits): ArchOptimizerState {
  const zeros = () => alpha.map((a) => a.map(() => 0));
  return { m: zeros(), v: zeros(), t: zeros() };
}

/**
 * One descent step on the entries listed in `touched` (per decision, the option indices); the
 * untouched entries and their state stay as they were. Returns new logits and a new state: the
 * arguments are left alone, as a strategy's update must leave them.
 */
export function archOptimizerStep(
  spec: ArchOptimizerSpec,
  state: ArchOptimizerState,
  alpha: ArchitectureLogits,
  gradient: ArchitectureLogits,
  touched: readonly (readonly number[])[],
): { alpha: ArchitectureLogits; state: ArchOptimizerState } {
  const next = alpha.map((a) => a.slice());
  const copy = (rows: number[][]) => rows.map((r) => r.slice());
  const s: ArchOptimizerState = { m: copy(state.m), v: copy(state.v), t: copy(state.t) };
  touched.forEach((entries, d) => {
    for (const i of entries) {
      const g = gradient[d][i] + spec.weightDecay * alpha[d][i];
      if (spec.kind === 'sgd') {
        next[d][i] -= spec.learningRate * g;
        continue;
      }
      const t = ++s.t[d][i];
      s.m[d][i] = spec.beta1 * s.m[d][i] + (1 - spec.beta1) * g;
      s.v[d][i] = spec.beta2 * s.v[d][i] + (1 - spec.beta2) * g * g;
      const mHat = s.m[d][i] / (1 - spec.beta1 ** t);
      const vHat = s.v[d][i] / (1 - spec.beta2 ** t);
      next[d][i] -= (spec.learningRate * mHat) / (Math.sqrt(vHat) + spec.epsilon);
    }
  });
  return { alpha: next, state: s };
}
