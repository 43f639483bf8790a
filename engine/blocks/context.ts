/**
 * What every block needs from the model it is wired into: the tf namespace, batch-norm settings
 * and seeded initialisers. Seeds derive from the model seed and the layer's name, so two builds
 * with the same seed are identical (resume tests rely on it) and adding a layer does not reshuffle
 * the initial weights of the others.
 */
import type { SymbolicTensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { mixSeed } from '../../core/random';

export type Tf = ReturnType<typeof loadTf>;
export type Sym = SymbolicTensor;
type Initializer = ReturnType<Tf['initializers']['zeros']>;

export interface BatchNormConfig {
  momentum: number;
  epsilon: number;
}

export interface BlockContext {
  tf: Tf;
  seed: number;
  bn: BatchNormConfig;
  /** Zero kernels instead of random ones: shape inference for `arch describe` without paying for RNG. */
  zeroInit: boolean;
  /** Omit the stochastic layers (dropout, drop-connect), giving a model of built-in layers only. */
  inferenceOnly: boolean;
}

export function blockContext(o: Partial<Omit<BlockContext, 'tf'>> = {}): BlockContext {
  return { tf: loadTf(), seed: o.seed ?? 1, bn: o.bn ?? { momentum: 0.99, epsilon: 1e-3 }, zeroInit: o.zeroInit ?? false, inferenceOnly: o.inferenceOnly ?? false };
}

/** FNV-1a of a layer name: a per-layer salt that does not depend on any seed. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function layerSeed(ctx: BlockContext, layerName: string): number {
  return mixSeed(ctx.seed, nameHash(layerName));
}

/** EfficientNet's conv initialiser: variance scaling 2.0 over fan-out, truncated normal (Keras reference). */
export function convInit(ctx: BlockContext, layerName: string): Initializer {
  if (ctx.zeroInit) return ctx.tf.initializers.zeros();
  return ctx.tf.initializers.varianceScaling({ scale: 2.0, mode: 'fanOut', distribution: 'truncatedNormal', seed: layerSeed(ctx, layerName) });
}

/**
 * The classifier: variance scaling 1/3, uniform, as EfficientNet, but over fan-in rather than its
 * fan-out. With 1000 classes and a 1280-wide head the two nearly agree; with 10 classes fan-out
 * gives initial logits with a standard deviation above 10 (initial loss ~7 instead of ln 10).
 */
export function denseInit(ctx: BlockContext, layerName: string): Initializer {
  if (ctx.zeroInit) return ctx.tf.initializers.zeros();
  return ctx.tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: layerSeed(ctx, layerName) });
}
