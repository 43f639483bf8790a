/**
 * Dropout and drop-connect (stochastic depth) with reproducible masks. tfjs's Dropout either
 * draws from an unseeded generator (resumed runs diverge) or, given a seed, draws the same mask
 * at every step. Here the mask is a pure function of (layer salt, noise step): the builder salts
 * each layer by its name, the trainer passes `noiseStep` in the call kwargs, derived from its seed
 * and the global step, so a resumed run draws exactly the masks an uninterrupted one would have.
 *
 * At inference the layer is the identity. It is registered with tfjs serialization so models save
 * and load in tfjs format in this process; plain @tensorflow/tfjs elsewhere must either register
 * the same class or load the model built with `inferenceOnly` (see models/arch-model.ts), which
 * leaves these layers out and shares every weight.
 */
import type { Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { mixSeed } from '../../core/random';

export interface SeededDropoutArgs {
  rate: number;
  /** true: one decision per example (drop-connect drops the whole residual branch); false: per element. */
  perExample: boolean;
  seed: number;
  name?: string;
}

/** The extra kwarg the trainer passes next to `training`. */
export interface NoiseKwargs {
  training?: boolean;
  noiseStep?: number;
  /** Training-mode BatchNorm without dropout or drop-connect: re-estimating BatchNorm statistics (engine/train/precise-bn.ts). */
  noiseFree?: boolean;
}

function defineClass() {
  const tf = loadTf();
  class SeededDropout extends tf.layers.Layer {
    static readonly className = 'SeededDropout';
    readonly rate: number;
    readonly perExample: boolean;
    readonly seed: number;
    // Fallback stream for callers (e.g. model.fit) that pass no noiseStep: random, not resumable.
    private calls = 0;

    constructor(args: SeededDropoutArgs) {
      super({ name: args.name });
      if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${args.rate}`);
      this.rate = args.rate;
      this.perExample = args.perExample;
      this.seed = args.seed >>> 0;
      this.supportsMasking = true;
    }

    override computeOutputShape(inputShape: number[] | number[][]) {
      return inputShape;
    }

    override call(inputs: Tensor | Tensor[], kwargs: NoiseKwargs): Tensor {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!kwargs.training || kwargs.noiseFree || this.rate === 0) return x;
      const step = kwargs.noiseStep ?? this.calls++;
      return tf.tidy(() => {
        const keep = 1 - this.rate;
        const shape = this.perExample ? [x.shape[0], ...x.shape.slice(1).map(() => 1)] : x.shape;
        // floor(keep + U[0,1)) is 1 with probability keep: the official drop_connect formulation.
        const mask = tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', mixSeed(this.seed, step)), keep));
        return tf.mul(tf.div(x, keep), mask);
      });
    }

    override getConfig() {
      return { ...super.getConfig(), rate: this.rate, perExample: this.perExample, seed: this.seed };
    }
  }
  tf.serialization.registerClass(SeededDropout);
  return SeededDropout;
}

let SeededDropoutClass: ReturnType<typeof defineClass> | undefined;

/** The layer class, defined and registered on first use (it needs the loaded tf namespace). */
export function seededDropoutClass(): ReturnType<typeof defineClass> {
  SeededDropoutClass ??= defineClass();
  return SeededDropoutClass;
}

export function seededDropout(args: SeededDropoutArgs) {
  return new (seededDropoutClass())(args);
}
