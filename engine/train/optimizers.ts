/**
 * The optimizers the trainer offers and the one way to change their learning rate per step.
 * tfjs optimizers differ here: SGD and momentum cache -lr as a kept scalar (setLearningRate
 * replaces it), while Adam and RMSProp read their `learningRate` field on every update.
 */
import type { Optimizer } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

export type OptimizerKind = 'adam' | 'momentum' | 'rmsprop';

export interface OptimizerSpec {
  kind: OptimizerKind;
  learningRate: number;
  /** Momentum (SGD) or RMSProp's momentum. */
  momentum: number;
  /** RMSProp's moving-average decay of squared gradients (official EfficientNet: 0.9). */
  rmspropDecay: number;
  /** RMSProp's epsilon (official EfficientNet: 0.001). */
  rmspropEpsilon: number;
}

export function makeOptimizer(s: OptimizerSpec): Optimizer {
  const tf = loadTf();
  switch (s.kind) {
    case 'adam':
      return tf.train.adam(s.learningRate);
    case 'momentum':
      return tf.train.momentum(s.learningRate, s.momentum);
    case 'rmsprop':
      return tf.train.rmsprop(s.learningRate, s.rmspropDecay, s.momentum, s.rmspropEpsilon);
  }
}

export function setLearningRate(optimizer: Optimizer, rate: number): void {
  const o = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate: number };
  if (o.learningRate === rate) return;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(rate);
  // Adam and RMSProp keep it in a protected field that they read on each applyGradients.
  else o.learningRate = rate;
}
