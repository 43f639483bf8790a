/**
 * The supernet's pieces as small functional tfjs models: the fixed stem, one model per candidate
 * path of every mixed op, and the fixed head. Each is built once from the engine's own blocks
 * (`mbconv`, `convBnAct`) on a symbolic input of its exact shape, so a sampled network is the
 * same computation that `buildArchModel` wires for the derived architecture. At run time the
 * pieces are applied eagerly to real tensors, one after another, so only the paths a step chooses
 * execute, record gradients and hold activations; the others are just their weights.
 */
import type { LayersModel, Variable } from '@tensorflow/tfjs-node';
import { SE_RATIO } from '../arch/from-choices';
import type { Activation } from '../arch/spec';
import type { Decision, SearchSpace, BlockOption } from '../../core/space';
import { convBnAct } from '../blocks/conv-bn-act';
import { blockContext, denseInit, type BatchNormConfig, type Sym } from '../blocks/context';
import { mbconv } from '../blocks/mbconv';
import type { NamedVariable } from './weight-optimizer';
import { isDecayedKernel } from '../train/weight-decay';

export interface NetworkShape {
  numClasses: number;
  inputChannels: number;
  resolution: number;
  activation: Activation;
  bn: BatchNormConfig;
}

/** A piece of the network with its weights, trainable ones keyed for the optimizer. */
export interface Piece {
  model: LayersModel;
  trainable: NamedVariable[];
}

export interface MixedOp {
  decision: Decision;
  /** [height, width, channels] entering the op. */
  inShape: [number, number, number];
  outChannels: number;
  stride: 1 | 2;
  /** One per option; null for the zero op (the block is skipped: output = input). */
  paths: (Piece | null)[];
}

function pieceOf(model: LayersModel): Piece {
  // LayerVariable keeps its tf.Variable in `val`; the optimizer needs the Variable itself.
  const trainable = model.trainableWeights.map((w) => ({
    key: w.originalName,
    variable: (w as unknown as { val: Variable }).val,
    decays: isDecayedKernel(w.originalName),
  }));
  return { model, trainable };
}

/** `k5e6se`: a readable, unique tag of an option inside its decision. */
export function optionTag(o: BlockOption): string {
  return o === 'zero' ? 'zero' : `k${o.kernel}e${o.expansion}${o.se ? 'se' : ''}`;
}

/** "same" padding: ceil(size / stride), as TensorFlow computes it. */
function strided(size: number, stride: number): number {
  return Math.ceil(size / stride);
}

export interface SupernetPieces {
  stem: Piece;
  ops: MixedOp[];
  head: Piece;
}

export function buildPieces(space: SearchSpace, decisions: readonly Decision[], net: NetworkShape, seed: number): SupernetPieces {
  const ctx = blockContext({ seed, bn: net.bn, zeroInit: false, inferenceOnly: false });
  const { tf } = ctx;
  const stemInput = tf.input({ shape: [net.resolution, net.resolution, net.inputChannels], name: 'stem_in' });
  const stemOut = convBnAct(ctx, stemInput, { filters: space.stem.channels, kernel: space.stem.kernel, stride: space.stem.stride, activation: net.activation, name: 'stem' });
  const stem = pieceOf(tf.model({ inputs: stemInput, outputs: stemOut, name: 'supernet_stem' }));

  let size = strided(net.resolution, space.stem.stride);
  let channels = space.stem.channels;
  const ops: MixedOp[] = decisions.map((decision) => {
    const stage = space.stages[decision.stage];
    const stride: 1 | 2 = decision.block === 0 ? stage.stride : 1;
    const inShape: [number, number, number] = [size, size, channels];
    const paths = decision.options.map((option) => {
      if (option === 'zero') {
        // The DSL only offers zero on blocks after a stage's first: stride 1, same width, so identity fits.
        if (stride !== 1 || channels !== stage.channels) throw new Error(`${decision.id}: zero op needs matching shapes`);
        return null;
      }
      const name = `${decision.id}_${optionTag(option)}`;
      const input = tf.input({ shape: inShape, name: `${name}_in` });
      const out = mbconv(ctx, input, {
        inChannels: channels,
        outChannels: stage.channels,
        expansion: option.expansion,
        kernel: option.kernel,
        stride,
        seRatio: option.se ? SE_RATIO : 0,
        activation: net.activation,
        // Drop-connect needs the trainer's noise step; the search's own noise is the path sampling.
        dropConnect: 0,
        name,
      });
      return pieceOf(tf.model({ inputs: input, outputs: out, name }));
    });
    size = strided(size, stride);
    channels = stage.channels;
    return { decision, inShape, outChannels: stage.channels, stride, paths };
  });

  const headInput = tf.input({ shape: [size, size, channels], name: 'head_in' });
  let x: Sym = headInput;
  x = convBnAct(ctx, x, { filters: space.head.channels, kernel: 1, activation: net.activation, name: 'head' });
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as Sym;
  // No dropout in the search: the derived architecture carries space.head.dropout for retraining.
  const logits = tf.layers.dense({ units: net.numClasses, kernelInitializer: denseInit(ctx, 'predictions'), name: 'predictions' }).apply(x) as Sym;
  const head = pieceOf(tf.model({ inputs: headInput, outputs: logits, name: 'supernet_head' }));
  return { stem, ops, head };
}
