/**
 * Forward and backward graph emitters for the tfjs layer classes our models are made of, in
 * training mode: each takes the layer's input tensors and weights as graph tensors, adds the
 * forward ops, and returns its outputs with a closure that adds the backward ops for a given
 * output gradient. They compute what the eager path computes (engine/blocks/native-ops.ts uses
 * the same fused BatchNorm and activation kernels), so a compiled step and an eager one agree to
 * rounding; dropout masks come from TensorFlow's counter-based generator instead of tfjs's.
 */
import type { T, GraphBuilder } from './builder';
import { DT, type AttrValue } from './proto';

const F: AttrValue = { type: DT.float };

/** A layer's weights in the graph, by the suffix of their names (kernel, bias, gamma, ...). */
export type LayerWeights = Record<string, T>;

/** What a layer hands back to the step compiler. */
export interface Emitted {
  outputs: T[];
  /**
   * Adds the backward ops for the gradient of the loss with respect to each output (null: the
   * output does not reach the loss). Returns the gradients of the inputs (null where `needs` says
   * none is wanted) and of the layer's trainable weights, by suffix.
   */
  backward(dOutputs: (T | null)[], needs: boolean[]): { dInputs: (T | null)[]; dWeights: Record<string, T> };
  /** New values of the layer's non-trainable weights after this forward pass, by suffix. */
  updates?: Record<string, T>;
}

export interface EmitContext {
  g: GraphBuilder;
  /** Static shapes of the inputs, batch dimension null. */
  inputShapes: (number | null)[][];
  /** The layer's seed pair for this step's noise ([2] int32), when it draws any. */
  noiseSeed(): T;
}

/** A layer config as tfjs-layers' getConfig() returns it (only the fields read here). */
export interface LayerConfig {
  activation?: string;
  useBias?: boolean;
  kernelSize?: number | number[];
  strides?: number | number[];
  padding?: string;
  dilationRate?: number | number[];
  depthMultiplier?: number;
  dataFormat?: string;
  momentum?: number;
  epsilon?: number;
  axis?: number | number[];
  center?: boolean;
  scale?: boolean;
  targetShape?: number[];
  poolSize?: number | number[];
  maxValue?: number | null;
  negativeSlope?: number;
  threshold?: number;
  rate?: number;
  perExample?: boolean;
  keepDims?: boolean;
}

/** Why a layer cannot be compiled: the step falls back to tfjs's eager path and says this. */
export class UnsupportedLayerError extends Error {
  constructor(layer: string, className: string, why: string) {
    super(`layer ${layer} (${className}): ${why}`);
    this.name = 'UnsupportedLayerError';
  }
}

type Emitter = (ctx: EmitContext, inputs: T[], w: LayerWeights, config: LayerConfig, fail: (why: string) => never) => Emitted;

const pair = (v: number | number[] | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v, v];

function convAttrs(config: LayerConfig, fail: (why: string) => never): Record<string, AttrValue> {
  const [sh, sw] = pair(config.strides, 1);
  const [dh, dw] = pair(config.dilationRate, 1);
  if (dh !== 1 || dw !== 1) fail('dilated convolutions are not compiled');
  if (config.dataFormat && config.dataFormat !== 'channelsLast') fail(`data format ${config.dataFormat}`);
  const padding = config.padding === 'valid' ? 'VALID' : config.padding === 'same' ? 'SAME' : fail(`padding ${config.padding}`);
  return { T: F, strides: { ints: [1, sh, sw, 1] }, padding: { s: padding } };
}

/**
 * A pointwise activation: forward op and gradient. Sigmoid and swish keep the sigmoid for the
 * backward pass, as native-ops.ts does.
 */
function activation(g: GraphBuilder, x: T, kind: string, fail: (why: string) => never): { y: T; grad(dy: T): T } {
  switch (kind) {
    case 'linear':
      return { y: x, grad: (dy) => dy };
    case 'relu': {
      const y = g.unary('Relu', x);
      return { y, grad: (dy) => g.grad('ReluGrad', dy, y) };
    }
    case 'relu6': {
      const y = g.unary('Relu6', x);
      return { y, grad: (dy) => g.grad('Relu6Grad', dy, x) };
    }
    case 'sigmoid': {
      const y = g.unary('Sigmoid', x);
      return { y, grad: (dy) => g.grad('SigmoidGrad', y, dy) };
    }
    case 'swish': {
      const s = g.unary('Sigmoid', x);
      const y = g.binary('Mul', x, s);
      // d/dx x*s(x) = s + x * s * (1 - s)
      return { y, grad: (dy) => g.binary('AddV2', g.binary('Mul', dy, s), g.binary('Mul', x, g.grad('SigmoidGrad', s, dy))) };
    }
    default:
      return fail(`activation ${kind} is not compiled`);
  }
}

function biasAndActivation(g: GraphBuilder, z: T, w: LayerWeights, config: LayerConfig, fail: (why: string) => never) {
  const withBias = config.useBias ? g.one('BiasAdd', [z, w.bias], { T: F }) : z;
  const act = activation(g, withBias, config.activation ?? 'linear', fail);
  return {
    y: act.y,
    /** The gradient at the linear output, and the bias's. */
    back(dy: T): { dz: T; dBias?: T } {
      const dz = act.grad(dy);
      return config.useBias ? { dz, dBias: g.one('BiasAddGrad', [dz], { T: F }) } : { dz };
    },
  };
}

function withBias(kernel: string, dKernel: T, dBias: T | undefined): Record<string, T> {
  return dBias ? { [kernel]: dKernel, bias: dBias } : { [kernel]: dKernel };
}

/**
 * Conv2D and DepthwiseConv2dNative share everything but their op names and their kernel's
 * weight name: one forward op, bias and activation, the two backprop ops.
 */
function convolution(op: 'Conv2D' | 'DepthwiseConv2dNative', kernel: 'kernel' | 'depthwise_kernel'): Emitter {
  return ({ g }, [x], w, config, fail) => {
    const attrs = convAttrs(config, fail);
    const z = g.one(op, [x, w[kernel]], attrs);
    const tail = biasAndActivation(g, z, w, config, fail);
    return {
      outputs: [tail.y],
      backward([dy], [needX]) {
        const { dz, dBias } = tail.back(dy!);
        const dKernel = g.one(`${op}BackpropFilter`, [x, g.shape(w[kernel]), dz], attrs);
        const dx = needX ? g.one(`${op}BackpropInput`, [g.shape(x), w[kernel], dz], attrs) : null;
        return { dInputs: [dx], dWeights: withBias(kernel, dKernel, dBias) };
      },
    };
  };
}

const conv2d = convolution('Conv2D', 'kernel');

const depthwiseConv2dNative = convolution('DepthwiseConv2dNative', 'depthwise_kernel');
const depthwiseConv2d: Emitter = (ctx, inputs, w, config, fail) => {
  if ((config.depthMultiplier ?? 1) !== 1) fail(`depth multiplier ${config.depthMultiplier}`);
  return depthwiseConv2dNative(ctx, inputs, w, config, fail);
};

const dense: Emitter = ({ g, inputShapes }, [x], w, config, fail) => {
  if (inputShapes[0].length !== 2) fail(`a Dense layer on a rank-${inputShapes[0].length} input is not compiled`);
  const z = g.matMul(x, w.kernel);
  const tail = biasAndActivation(g, z, w, config, fail);
  return {
    outputs: [tail.y],
    backward([dy], [needX]) {
      const { dz, dBias } = tail.back(dy!);
      const dKernel = g.matMul(x, dz, true, false);
      const dx = needX ? g.matMul(dz, w.kernel, false, true) : null;
      return { dInputs: [dx], dWeights: withBias('kernel', dKernel, dBias) };
    },
  };
};

/**
 * Training-mode BatchNorm: FusedBatchNormV3 with the batch's statistics, the moving averages moved
 * as tfjs-layers moves them (v - (v - batch) * (1 - momentum), biased variance).
 */
const batchNormalization: Emitter = ({ g, inputShapes }, [x], w, config, fail) => {
  const rank = inputShapes[0].length;
  const axis = Array.isArray(config.axis) ? config.axis : [config.axis ?? -1];
  if (rank !== 4 || axis.length !== 1 || (axis[0] !== -1 && axis[0] !== 3)) fail('only channels-last BatchNorm on rank-4 inputs is compiled');
  if (config.center === false || config.scale === false) fail('BatchNorm without center or scale');
  const epsilon = config.epsilon ?? 1e-3;
  const common: Record<string, AttrValue> = {
    T: F,
    U: F,
    epsilon: { f: epsilon },
    data_format: { s: 'NHWC' },
    is_training: { b: true },
  };
  const empty = g.floats([], [0], 'empty');
  const [y, , , r1, r2, r3] = g.op('FusedBatchNormV3', [x, w.gamma, w.beta, empty, empty], { ...common, exponential_avg_factor: { f: 1 } }, 'FusedBatchNormV3', 6);
  const decay = g.scalar(1 - (config.momentum ?? 0.99), 'decay');
  const moved = (v: T, batch: T) => g.binary('Sub', v, g.binary('Mul', g.binary('Sub', v, batch), decay));
  return {
    outputs: [y],
    updates: { moving_mean: moved(w.moving_mean, r1), moving_variance: moved(w.moving_variance, r2) },
    backward([dy]) {
      const [dx, dGamma, dBeta] = g.op('FusedBatchNormGradV3', [dy!, x, w.gamma, r1, r2, r3], common, 'FusedBatchNormGradV3', 5);
      return { dInputs: [dx], dWeights: { gamma: dGamma, beta: dBeta } };
    },
  };
};

const activationLayer: Emitter = ({ g }, [x], _w, config, fail) => {
  const act = activation(g, x, config.activation ?? 'linear', fail);
  return { outputs: [act.y], backward: ([dy]) => ({ dInputs: [act.grad(dy!)], dWeights: {} }) };
};

const reLU: Emitter = ({ g }, [x], _w, config, fail) => {
  if (config.maxValue != null) fail('ReLU with a maximum value');
  const act = activation(g, x, 'relu', fail);
  return { outputs: [act.y], backward: ([dy]) => ({ dInputs: [act.grad(dy!)], dWeights: {} }) };
};

const globalAveragePooling2d: Emitter = ({ g, inputShapes }, [x], _w, config, fail) => {
  const [, h, wd, c] = inputShapes[0];
  if (config.dataFormat && config.dataFormat !== 'channelsLast') fail(`data format ${config.dataFormat}`);
  if (config.keepDims) fail('keepDims');
  if (h == null || wd == null || c == null) return fail('unknown spatial size');
  const y = g.reduce('Mean', x, [1, 2], false);
  return {
    outputs: [y],
    backward([dy]) {
      const spread = g.binary('Mul', g.reshape(dy!, [-1, 1, 1, c]), g.scalar(1 / (h * wd)));
      return { dInputs: [g.broadcastTo(spread, g.shape(x))], dWeights: {} };
    },
  };
};

const reshape: Emitter = ({ g }, [x], _w, config, fail) => {
  const target = config.targetShape ?? fail('no target shape');
  const y = g.reshape(x, [-1, ...target]);
  return { outputs: [y], backward: ([dy]) => ({ dInputs: [g.reshape(dy!, g.shape(x))], dWeights: {} }) };
};

const flatten: Emitter = ({ g, inputShapes }, [x], _w, _config, fail) => {
  const dims = inputShapes[0].slice(1);
  if (dims.some((d) => d == null)) fail('unknown shape');
  const y = g.reshape(x, [-1, (dims as number[]).reduce((a, b) => a * b, 1)]);
  return { outputs: [y], backward: ([dy]) => ({ dInputs: [g.reshape(dy!, g.shape(x))], dWeights: {} }) };
};

const maxPooling2d: Emitter = ({ g }, [x], _w, config, fail) => {
  const [ph, pw] = pair(config.poolSize, 2);
  const [sh, sw] = config.strides === undefined || config.strides === null ? [ph, pw] : pair(config.strides, ph);
  const padding = config.padding === 'same' ? 'SAME' : config.padding === 'valid' || config.padding === undefined ? 'VALID' : fail(`padding ${config.padding}`);
  const attrs: Record<string, AttrValue> = { T: F, ksize: { ints: [1, ph, pw, 1] }, strides: { ints: [1, sh, sw, 1] }, padding: { s: padding } };
  const y = g.one('MaxPool', [x], attrs);
  return { outputs: [y], backward: ([dy]) => ({ dInputs: [g.one('MaxPoolGrad', [x, y, dy!], attrs)], dWeights: {} }) };
};

const add: Emitter = ({ g, inputShapes }, xs, _w, _config, fail) => {
  const first = JSON.stringify(inputShapes[0]);
  if (inputShapes.some((s) => JSON.stringify(s) !== first)) fail('Add of differently shaped inputs');
  const y = g.addN(xs);
  return { outputs: [y], backward: ([dy]) => ({ dInputs: xs.map(() => dy!), dWeights: {} }) };
};

/**
 * Two-input elementwise product with broadcasting over the dimensions where one input has size 1
 * (squeeze-excitation's gate: [B,H,W,C] x [B,1,1,C]); the gradient of the broadcast input is summed
 * over those dimensions.
 */
const multiply: Emitter = ({ g, inputShapes }, xs, _w, _config, fail) => {
  if (xs.length !== 2) fail('Multiply of more than two inputs');
  const [sa, sb] = inputShapes;
  if (sa.length !== sb.length) fail('Multiply of inputs of different rank');
  const reducedOver = (mine: (number | null)[], other: (number | null)[]) =>
    mine.map((d, i) => (i > 0 && d === 1 && other[i] !== 1 ? i : -1)).filter((i) => i >= 0);
  for (let i = 1; i < sa.length; i++) {
    if (sa[i] !== sb[i] && sa[i] !== 1 && sb[i] !== 1) fail(`Multiply of shapes [${sa}] and [${sb}]`);
  }
  const [a, b] = xs;
  const y = g.binary('Mul', a, b);
  const shrink = (d: T, axes: number[]) => (axes.length === 0 ? d : g.reduce('Sum', d, axes, true));
  return {
    outputs: [y],
    backward([dy], needs) {
      const da = needs[0] ? shrink(g.binary('Mul', dy!, b), reducedOver(sa, sb)) : null;
      const db = needs[1] ? shrink(g.binary('Mul', dy!, a), reducedOver(sb, sa)) : null;
      return { dInputs: [da, db], dWeights: {} };
    },
  };
};

/**
 * SeededDropout (engine/blocks/seeded-dropout.ts): mask = floor(keep + U[0,1)), per element or one
 * per example, y = x / keep * mask; U from StatelessRandomUniform on the layer's seed pair.
 */
const seededDropout: Emitter = ({ g, noiseSeed }, [x], _w, config) => {
  const rate = config.rate ?? 0;
  if (rate === 0) return { outputs: [x], backward: ([dy]) => ({ dInputs: [dy], dWeights: {} }) };
  const keep = 1 - rate;
  const shape = g.shape(x);
  const maskShape = config.perExample
    ? g.one('ConcatV2', [g.one('Slice', [shape, g.ints([0]), g.ints([1])], { T: { type: DT.int32 }, Index: { type: DT.int32 } }), g.one('OnesLike', [g.one('Slice', [shape, g.ints([1]), g.ints([-1])], { T: { type: DT.int32 }, Index: { type: DT.int32 } })], { T: { type: DT.int32 } }), g.intScalar(0)], { N: { i: 2 }, T: { type: DT.int32 }, Tidx: { type: DT.int32 } })
    : shape;
  const u = g.one('StatelessRandomUniform', [maskShape, noiseSeed()], { dtype: F, T: { type: DT.int32 }, Tseed: { type: DT.int32 } });
  const scaledMask = g.binary('Mul', g.unary('Floor', g.binary('AddV2', u, g.scalar(keep))), g.scalar(1 / keep));
  const y = g.binary('Mul', x, scaledMask);
  return { outputs: [y], backward: ([dy]) => ({ dInputs: [g.binary('Mul', dy!, scaledMask)], dWeights: {} }) };
};

export const EMITTERS: Readonly<Record<string, Emitter>> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  Activation: activationLayer,
  ReLU: reLU,
  GlobalAveragePooling2D: globalAveragePooling2d,
  Reshape: reshape,
  Flatten: flatten,
  MaxPooling2D: maxPooling2d,
  Add: add,
  Multiply: multiply,
  SeededDropout: seededDropout,
};
