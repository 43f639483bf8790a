/**
 * Squeeze-and-excitation (Hu et al.), as EfficientNet uses it: global average pool, a 1x1 conv
 * down to `ratio` x the block's *input* channels (not the expanded ones), the block's activation,
 * a 1x1 conv back up, a sigmoid gate multiplied onto the features. Built only from built-in
 * layers (the 1x1 convs on a 1x1 map are what the official code uses), so plain tfjs loads it.
 */
import type { Activation } from '../arch/spec';
import { activation } from './activation';
import { convInit, type BlockContext, type Sym } from './context';

export interface SqueezeExciteOptions {
  /** Channels entering the whole MBConv block; the reduction is relative to these. */
  blockInputChannels: number;
  ratio: number;
  activation: Activation;
  name: string;
}

/** `max(1, int(input_filters * se_ratio))` of the official code: truncation, no rounding to 8. */
export function seReducedChannels(blockInputChannels: number, ratio: number): number {
  return Math.max(1, Math.trunc(blockInputChannels * ratio));
}

export function squeezeExcite(ctx: BlockContext, x: Sym, o: SqueezeExciteOptions): Sym {
  const { tf } = ctx;
  const channels = x.shape[x.shape.length - 1] as number;
  const reduced = seReducedChannels(o.blockInputChannels, o.ratio);
  let s = tf.layers.globalAveragePooling2d({ name: `${o.name}_squeeze` }).apply(x) as Sym;
  s = tf.layers.reshape({ targetShape: [1, 1, channels], name: `${o.name}_reshape` }).apply(s) as Sym;
  s = tf.layers
    .conv2d({ filters: reduced, kernelSize: 1, padding: 'same', useBias: true, kernelInitializer: convInit(ctx, `${o.name}_reduce`), name: `${o.name}_reduce` })
    .apply(s) as Sym;
  s = activation(ctx, s, o.activation, `${o.name}_reduce_act`);
  s = tf.layers
    .conv2d({ filters: channels, kernelSize: 1, padding: 'same', useBias: true, kernelInitializer: convInit(ctx, `${o.name}_expand`), name: `${o.name}_expand` })
    .apply(s) as Sym;
  s = activation(ctx, s, 'sigmoid', `${o.name}_gate`);
  return tf.layers.multiply({ name: `${o.name}_excite` }).apply([x, s]) as Sym;
}
