/**
 * ProxylessNAS's numerical core: the supernet over the DSL's MBConv search space, binary gates,
 * the measurements a one-shot strategy's update rule feeds on (dL/dg, rewards), latency as an
 * objective, derivation and checkpoints. Pure engine: the search activity calls into it with a
 * strategy plugin, whose rules (plugins/builtin/proxyless.ts for ProxylessNAS's) it never knows.
 */
export * from './alpha';
export * from './derive';
export * from './latency-objective';
export { optionTag, type MixedOp, type NetworkShape } from './paths';
export { SE_RATIO } from '../arch/from-choices';
export * from './supernet';
export { OneShotStrategyError } from './strategy-calls';
export { DEFAULT_WEIGHT_OPTIMIZER, type WeightOptimizerSpec } from './weight-optimizer';
