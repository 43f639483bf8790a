/**
 * Activations as built-in tfjs layers, so exported models load in plain @tensorflow/tfjs:
 * Swish (x * sigmoid(x), EfficientNet) and ReLU6 (MobileNetV2) are both registered there.
 * In training on the native backend they run on TensorFlow's own kernels (see native-ops.ts).
 */
import type { Activation } from '../arch/spec';
import type { BlockContext, Sym } from './context';
import { withNativeActivation } from './native-ops';

export function activation(ctx: BlockContext, x: Sym, kind: Activation | 'sigmoid', name: string): Sym {
  return withNativeActivation(ctx.tf.layers.activation({ activation: kind, name }), kind).apply(x) as Sym;
}
