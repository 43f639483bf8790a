/**
 * MBConv, the mobile inverted bottleneck (MobileNetV2) with optional squeeze-excitation
 * (EfficientNet): 1x1 expand (omitted when e = 1), depthwise k x k with the stride, SE, linear 1x1
 * projection, and an identity shortcut with stochastic depth when stride is 1 and the channel
 * count is unchanged. MobileNetV2's block is this with ReLU6, no SE and no drop-connect.
 */
import type { Activation, UnrolledBlock } from '../arch/spec';
import { convBnAct, depthwiseBnAct } from './conv-bn-act';
import { nameHash, type BlockContext, type Sym } from './context';
import { seededDropout } from './seeded-dropout';
import { squeezeExcite } from './squeeze-excite';

/** An unrolled block's shape (engine/arch/spec.ts), and how to build it. */
export interface MBConvOptions extends Omit<UnrolledBlock, 'entry' | 'copy'> {
  activation: Activation;
  /** Probability of dropping the residual branch for an example (training only). */
  dropConnect: number;
  name: string;
}

export function hasShortcut(o: Pick<MBConvOptions, 'inChannels' | 'outChannels' | 'stride'>): boolean {
  return o.stride === 1 && o.inChannels === o.outChannels;
}

export function mbconv(ctx: BlockContext, x: Sym, o: MBConvOptions): Sym {
  const expanded = o.inChannels * o.expansion;
  let y = x;
  if (o.expansion !== 1) y = convBnAct(ctx, y, { filters: expanded, kernel: 1, activation: o.activation, name: `${o.name}_expand` });
  y = depthwiseBnAct(ctx, y, { kernel: o.kernel, stride: o.stride, activation: o.activation, name: `${o.name}_dw` });
  if (o.seRatio > 0) y = squeezeExcite(ctx, y, { blockInputChannels: o.inChannels, ratio: o.seRatio, activation: o.activation, name: `${o.name}_se` });
  y = convBnAct(ctx, y, { filters: o.outChannels, kernel: 1, activation: null, name: `${o.name}_project` });
  if (!hasShortcut(o)) return y;
  if (o.dropConnect > 0 && !ctx.inferenceOnly) {
    const drop = seededDropout({ rate: o.dropConnect, perExample: true, seed: nameHash(`${o.name}_drop`), name: `${o.name}_drop` });
    y = drop.apply(y) as Sym;
  }
  return ctx.tf.layers.add({ name: `${o.name}_add` }).apply([y, x]) as Sym;
}
