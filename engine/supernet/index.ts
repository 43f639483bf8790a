/**
 * ProxylessNAS's numerical core: the supernet over the DSL's MBConv search space, binary gates,
 * the gradient and REINFORCE architecture updates, latency as an objective, derivation and
 * checkpoints. Pure engine: the search workflow and the strategy plugins call into it.
 */
export * from './alpha';
export * from './arch-optimizer';
export * from './derive';
export * from './latency-objective';
export { optionTag, type MixedOp, type NetworkShape } from './paths';
export { SE_RATIO } from '../arch/from-choices';
export * from './supernet';
export { DEFAULT_WEIGHT_OPTIMIZER, type WeightOptimizerSpec } from './weight-optimizer';
