/**
 * Activations as built-in tfjs layers, so exported models load in plain @tensorflow/tfjs:
 * Swish (x * sigmoid(x), EfficientNet) and ReLU6 (MobileNetV2) are both registered there.
 */
import type { Activation } from '../arch/spec';
import type { BlockContext, Sym } from './context';

export function activation(ctx: BlockContext, x: Sym, kind: Activation | 'sigmoid', name: string): Sym {
  return ctx.tf.layers.activation({ activation: kind, name }).apply(x) as Sym;
}
