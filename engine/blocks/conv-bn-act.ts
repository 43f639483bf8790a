/** Conv (regular or depthwise) -> BatchNorm -> optional activation: the unit every block is made of. */
import type { Activation } from '../arch/spec';
import { activation } from './activation';
import { convInit, type BlockContext, type Sym } from './context';
import { withNativeBatchNorm } from './native-ops';

export interface ConvBnActOptions {
  filters: number;
  kernel: number;
  stride?: number;
  /** null: linear output (MBConv's projection). */
  activation: Activation | null;
  name: string;
}

function batchNorm(ctx: BlockContext, x: Sym, name: string): Sym {
  const layer = ctx.tf.layers.batchNormalization({ axis: -1, momentum: ctx.bn.momentum, epsilon: ctx.bn.epsilon, name });
  return withNativeBatchNorm(layer).apply(x) as Sym;
}

/** No conv bias: the BatchNorm right after it has its own shift, so a bias would be redundant. */
export function convBnAct(ctx: BlockContext, x: Sym, o: ConvBnActOptions): Sym {
  const conv = ctx.tf.layers.conv2d({
    filters: o.filters,
    kernelSize: o.kernel,
    strides: o.stride ?? 1,
    padding: 'same',
    useBias: false,
    kernelInitializer: convInit(ctx, `${o.name}_conv`),
    name: `${o.name}_conv`,
  });
  let y = batchNorm(ctx, conv.apply(x) as Sym, `${o.name}_bn`);
  if (o.activation) y = activation(ctx, y, o.activation, `${o.name}_act`);
  return y;
}

export function depthwiseBnAct(ctx: BlockContext, x: Sym, o: Omit<ConvBnActOptions, 'filters'>): Sym {
  const conv = ctx.tf.layers.depthwiseConv2d({
    kernelSize: o.kernel,
    strides: o.stride ?? 1,
    depthMultiplier: 1,
    padding: 'same',
    useBias: false,
    depthwiseInitializer: convInit(ctx, `${o.name}_dwconv`),
    name: `${o.name}_dwconv`,
  });
  let y = batchNorm(ctx, conv.apply(x) as Sym, `${o.name}_bn`);
  if (o.activation) y = activation(ctx, y, o.activation, `${o.name}_act`);
  return y;
}
