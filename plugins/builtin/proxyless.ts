/**
 * ProxylessNAS (Cai et al., 2019) as two one-shot strategies: the gradient variant (BinaryConnect-
 * style estimate through binarised path gates) and the REINFORCE variant (for non-differentiable
 * rewards such as measured latency). The supernet measures; these decide which paths an
 * architecture step runs and what the measurement does to alpha.
 */
import { definePlugin, z, type ArchitectureLogits, type SearchSpaceShape } from '../api';
import { sampleGates, sampleIndex, sampleWithoutReplacement, softmax } from '../../engine/supernet/alpha';
import { archOptimizerStep, DEFAULT_ARCH_OPTIMIZER, initArchOptimizerState, type ArchOptimizerState } from './arch-optimizer';
import { binaryConnectGradient, reinforceGradient, rescaleSubset } from './proxyless-rules';

/**
 * The strategies' own state. Its field names are those the supernet checkpoint used when it kept
 * this state itself (format 1), which is what lets those checkpoints resume under these plugins.
 */
export interface ProxylessGradientState {
  archOptimizer: ArchOptimizerState;
}

export interface ProxylessReinforceState {
  archOptimizer: ArchOptimizerState;
  /** Moving average of the rewards; null until the first one. */
  baseline: number | null;
}

const archLearningRate = (fallback: number) =>
  z.number().positive().max(1).default(fallback).describe('Learning rate of the architecture logits (Adam).');

const weightStepsPerArchStep = z.number().int().min(1).max(100).default(1).describe('Weight updates between architecture updates.');

/** Equal logits: every path starts equally likely (the paper's initialisation). */
function equalLogits(space: SearchSpaceShape): ArchitectureLogits {
  return space.options.map((n) => Array.from({ length: n }, () => 0));
}

function wrongSignal(name: string, expected: string, got: string): Error {
  return new Error(`${name} samples for a ${expected} signal, got a ${got}`);
}

/**
 * Per op, k distinct paths drawn by p and one of them active, drawn from p~ (the softmax over the
 * sampled set); the supernet returns dL/dg for the pair. dL/dalpha_i = sum_j dL/dg_j p~_j
 * (delta_ij - p~_i) then moves only the sampled logits, which are shifted back by a common offset
 * so that every unsampled path keeps its probability exactly. The latency term's gradient in p
 * goes through the same p~, restricted to the set as the loss's is, so the rescaling argument holds.
 */
export const proxylessGradient = definePlugin({
  kind: 'search-strategy',
  mode: 'one-shot',
  name: 'proxyless-gradient',
  version: '0.2.0',
  description: 'ProxylessNAS, gradient through binarised gates',
  configSchema: z
    .object({
      archLearningRate: archLearningRate(0.006),
      archWeightDecay: z.number().min(0).max(1).default(0).describe('Weight decay on the architecture logits.'),
      sampledPaths: z
        .number()
        .int()
        .min(2)
        .max(16)
        .default(2)
        .describe('Paths sampled per mixed op in an architecture step; the paper uses 2 to keep memory at one path pair.'),
      weightStepsPerArchStep,
    })
    .strict(),
  init: ({ space }) => {
    const logits = equalLogits(space);
    const strategy: ProxylessGradientState = { archOptimizer: initArchOptimizerState(logits) };
    return { logits, strategy };
  },
  sample({ logits }, rng, { config }) {
    const rand = () => rng.next();
    const paths = logits.map((a) => sampleWithoutReplacement(softmax(a), config.sampledPaths, rand));
    const active = paths.map((set, d) => set[sampleIndex(softmax(set.map((i) => logits[d][i])), rng.next())]);
    return { paths, gates: paths.map((set, d) => set.map((i) => (i === active[d] ? 1 : 0))), signal: 'gradient' };
  },
  update({ logits, strategy }, sample, signal, { config }) {
    if (signal.type !== 'gradient') throw wrongSignal('proxyless-gradient', 'gradient', signal.type);
    // An op with a single option has nothing to learn from its one path.
    const touched = sample.paths.map((set) => (set.length > 1 ? set : []));
    const gradient = logits.map((a) => a.map(() => 0));
    touched.forEach((set, d) => {
      if (set.length === 0) return;
      const objective = set.map((i, j) => signal.gateGradients[d][j] + (signal.latency ? signal.latency.gradient[d][i] : 0));
      binaryConnectGradient(
        set.map((i) => logits[d][i]),
        objective,
      ).forEach((g, j) => (gradient[d][set[j]] = g));
    });
    const spec = { ...DEFAULT_ARCH_OPTIMIZER, learningRate: config.archLearningRate, weightDecay: config.archWeightDecay };
    const stepped = archOptimizerStep(spec, strategy.archOptimizer, logits, gradient, touched);
    const next: ProxylessGradientState = { archOptimizer: stepped.state };
    return { logits: stepped.alpha.map((a, d) => (touched[d].length > 0 ? rescaleSubset(logits[d], a, touched[d]) : a)), strategy: next };
  },
  weightStepsPerArchStep: ({ config }) => config.weightStepsPerArchStep,
});

/**
 * One architecture per step, drawn from p; the supernet scores it (R = batch accuracy - the latency
 * term of its table latency) and alpha descends -(R - b)(onehot(g) - p), minus an optional
 * entropy bonus, with b a moving average of the rewards.
 */
export const proxylessReinforce = definePlugin({
  kind: 'search-strategy',
  mode: 'one-shot',
  name: 'proxyless-reinforce',
  version: '0.2.0',
  description: 'ProxylessNAS, REINFORCE with a moving-average baseline',
  configSchema: z
    .object({
      archLearningRate: archLearningRate(0.001),
      baselineDecay: z.number().min(0).max(1).default(0.99).describe('Decay of the moving-average reward baseline.'),
      entropyWeight: z.number().min(0).default(0).describe('Bonus on the entropy of the path distribution, to delay collapse.'),
      weightStepsPerArchStep,
    })
    .strict(),
  init: ({ space }) => {
    const logits = equalLogits(space);
    const strategy: ProxylessReinforceState = { archOptimizer: initArchOptimizerState(logits), baseline: null };
    return { logits, strategy };
  },
  sample({ logits }, rng) {
    const chosen = sampleGates(logits, () => rng.next());
    return { paths: chosen.map((j) => [j]), gates: chosen.map(() => [1]), signal: 'reward' };
  },
  update({ logits, strategy }, sample, signal, { config }) {
    if (signal.type !== 'reward') throw wrongSignal('proxyless-reinforce', 'reward', signal.type);
    // The first reward seeds the baseline, so the first step has no advantage rather than a huge one.
    const baseline = strategy.baseline ?? signal.reward;
    const chosen = sample.paths.map((set) => set[0]);
    const gradient = reinforceGradient(logits, chosen, signal.reward - baseline, config.entropyWeight);
    const all = logits.map((a) => a.map((_, i) => i));
    const stepped = archOptimizerStep({ ...DEFAULT_ARCH_OPTIMIZER, learningRate: config.archLearningRate }, strategy.archOptimizer, logits, gradient, all);
    const next: ProxylessReinforceState = { archOptimizer: stepped.state, baseline: config.baselineDecay * baseline + (1 - config.baselineDecay) * signal.reward };
    return { logits: stepped.alpha, strategy: next };
  },
  weightStepsPerArchStep: ({ config }) => config.weightStepsPerArchStep,
});

/** One module may declare several plugins, as user modules may. */
export default [proxylessGradient, proxylessReinforce];
