/**
 * Ops as tfjs models, both ways: one op built alone as the tiny model that node-cpu and wasm time
 * (and that the MACs test counts), and the ops recovered from a whole model this project built,
 * so a table can price a trained network. The only module of engine/latency/ that builds layers;
 * TensorFlow loads when a function here first runs, not on import.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { OpSignature } from '../../core/ops';
import { SE_RATIO } from '../arch/from-choices';
import { blockContext } from '../blocks/context';
import { convBnAct } from '../blocks/conv-bn-act';
import { mbconv } from '../blocks/mbconv';
import { opInputShape, opKey } from './ops';

/**
 * Ops are priced as the search builds them: Swish activations (the ArchSpec default that
 * `archFromChoices` uses), BatchNorm after every conv, inference mode (no drop-connect).
 */
const ACTIVATION = 'swish' as const;

export interface OpModelOptions {
  /** Seeds the random weights; latency does not depend on their values, only reproducibility does. */
  seed?: number;
}

/** The op alone, as a tiny functional model taking one example of `opInputShape(op)`. */
export function buildOpModel(op: OpSignature, opts: OpModelOptions = {}): LayersModel {
  const ctx = blockContext({ seed: opts.seed ?? 1, inferenceOnly: true });
  const { tf } = ctx;
  if (op.stride !== 1 && op.stride !== 2) throw new Error(`op ${opKey(op)}: stride must be 1 or 2`);
  const input = tf.input({ shape: opInputShape(op), name: 'op_input' });
  let y;
  switch (op.op) {
    case 'mbconv':
      if (op.kernel % 2 !== 1) throw new Error(`op ${opKey(op)}: kernel must be odd`);
      y = mbconv(ctx, input, {
        inChannels: op.inChannels,
        outChannels: op.outChannels,
        expansion: op.expansion ?? 1,
        kernel: op.kernel,
        stride: op.stride,
        seRatio: op.se ? SE_RATIO : 0,
        activation: ACTIVATION,
        dropConnect: 0,
        name: 'op',
      });
      break;
    case 'conv':
      y = convBnAct(ctx, input, { filters: op.outChannels, kernel: op.kernel, stride: op.stride, activation: ACTIVATION, name: 'op' });
      break;
    case 'pool':
      y = tf.layers.globalAveragePooling2d({ name: 'op_pool' }).apply(input);
      break;
    case 'dense':
      y = tf.layers.dense({ units: op.outChannels, name: 'op_dense' }).apply(input);
      break;
  }
  return tf.model({ inputs: input, outputs: y as typeof input, name: 'op' });
}

/** Layer config fields read below; tfjs types `getConfig()` loosely. */
interface ConvConfig {
  filters?: number;
  units?: number;
  kernelSize?: number[];
  strides?: number[];
}

function inputShapeOf(layer: { input: unknown }): number[] {
  const input = layer.input as { shape: (number | null)[] } | { shape: (number | null)[] }[];
  const shape = Array.isArray(input) ? input[0].shape : input.shape;
  return shape.slice(1).map((d) => d ?? 1);
}

/**
 * The ops of a model built by this project's builder (engine/models/arch-model.ts), recovered
 * from its layer names and configs: `stem_conv`, `blockNx_{expand_conv,dw_dwconv,se_reduce,
 * project_conv}`, `head_conv`, `avg_pool`, `predictions`. Lets a table price a whole trained model.
 * Throws on weighted layers it cannot attribute, so a foreign model is refused, not under-counted.
 */
export function opsOfModel(model: LayersModel): OpSignature[] {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const cfg = (name: string): ConvConfig | undefined => byName.get(name)?.getConfig() as ConvConfig | undefined;
  const ops: OpSignature[] = [];
  const claimed = new Set<string>();
  const conv = (name: string): void => {
    const layer = byName.get(name);
    if (!layer) return;
    const [size, , inChannels] = inputShapeOf(layer);
    const c = cfg(name)!;
    ops.push({ op: 'conv', inputSize: size, inChannels, outChannels: c.filters!, kernel: c.kernelSize![0], stride: c.strides![0] });
    claimed.add(name);
  };
  conv('stem_conv');
  for (const layer of model.layers) {
    const m = /^(.+)_dw_dwconv$/.exec(layer.name);
    if (!m) continue;
    const block = m[1];
    const expand = byName.get(`${block}_expand_conv`);
    const project = byName.get(`${block}_project_conv`);
    if (!project) throw new Error(`layer ${layer.name} has no ${block}_project_conv: not an MBConv block of this project's builder`);
    const [size, , inChannels] = inputShapeOf(expand ?? layer);
    const dw = cfg(layer.name)!;
    const se = byName.has(`${block}_se_reduce`);
    ops.push({
      op: 'mbconv',
      inputSize: size,
      inChannels,
      outChannels: cfg(project.name)!.filters!,
      kernel: dw.kernelSize![0],
      stride: dw.strides![0],
      expansion: expand ? cfg(expand.name)!.filters! / inChannels : 1,
      se,
    });
    for (const suffix of ['expand_conv', 'dw_dwconv', 'se_reduce', 'se_expand', 'project_conv']) claimed.add(`${block}_${suffix}`);
  }
  conv('head_conv');
  const pool = byName.get('avg_pool');
  if (pool) {
    const [size, , channels] = inputShapeOf(pool);
    ops.push({ op: 'pool', inputSize: size, inChannels: channels, outChannels: channels, kernel: size, stride: 1 });
  }
  const dense = byName.get('predictions');
  if (dense) {
    const [inChannels] = inputShapeOf(dense);
    ops.push({ op: 'dense', inputSize: 1, inChannels, outChannels: cfg('predictions')!.units!, kernel: 1, stride: 1 });
    claimed.add('predictions');
  }
  const unclaimed = model.layers.filter((l) => ['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(l.getClassName()) && !claimed.has(l.name)).map((l) => l.name);
  if (unclaimed.length) {
    throw new Error(`cannot price layers ${unclaimed.slice(0, 5).join(', ')} by op: the model was not built by this project's builder (stem_conv, blockNx_*, head_conv, predictions)`);
  }
  return ops;
}
