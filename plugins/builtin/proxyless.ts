/**
 * ProxylessNAS (Cai et al., 2019) as two one-shot strategies: the gradient variant (BinaryConnect-
 * style estimate through binarised path gates) and the REINFORCE variant (for non-differentiable
 * rewards such as measured latency). Declarations: their update rules arrive with the supernet
 * trainer.
 */
import { definePlugin, z } from '../api';

const archLearningRate = (fallback: number) =>
  z.number().positive().max(1).default(fallback).describe('Learning rate of the architecture logits (Adam).');

export const proxylessGradient = definePlugin({
  kind: 'search-strategy',
  mode: 'one-shot',
  name: 'proxyless-gradient',
  version: '0.1.0',
  description: 'ProxylessNAS, gradient through binarised gates (declaration)',
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
      weightStepsPerArchStep: z.number().int().min(1).max(100).default(1).describe('Weight updates between architecture updates.'),
    })
    .strict(),
});

export const proxylessReinforce = definePlugin({
  kind: 'search-strategy',
  mode: 'one-shot',
  name: 'proxyless-reinforce',
  version: '0.1.0',
  description: 'ProxylessNAS, REINFORCE with a moving-average baseline (declaration)',
  configSchema: z
    .object({
      archLearningRate: archLearningRate(0.001),
      baselineDecay: z.number().min(0).max(1).default(0.99).describe('Decay of the moving-average reward baseline.'),
      entropyWeight: z.number().min(0).default(0).describe('Bonus on the entropy of the path distribution, to delay collapse.'),
      weightStepsPerArchStep: z.number().int().min(1).max(100).default(1).describe('Weight updates between architecture updates.'),
    })
    .strict(),
});

/** One module may declare several plugins, as user modules may. */
export default [proxylessGradient, proxylessReinforce];
