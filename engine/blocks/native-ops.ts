/**
 * Training-time fast paths on the native TensorFlow backend for the layers MBConv networks are
 * made of. tfjs-layers differentiates BatchNormalization op by op (moments, then batchNorm's
 * composite gradient: ~20 elementwise kernels and reductions per layer and step) and ReLU6 as
 * minimum(6, relu(x)), whose gradient goes through tfjs-node's composite Step kernel (isNaN, fill,
 * ones, greater, where, select) and a Select for the minimum. libtensorflow has each of these as
 * one kernel: FusedBatchNormV3 / FusedBatchNormGradV3 with is_training, Relu6 / Relu6Grad,
 * Sigmoid / SigmoidGrad. Here they are wired in with `tf.customGrad`, computing the same functions
 * (batch statistics with the biased variance, the same moving-average update, the same
 * subgradients at the kinks), so only rounding differs.
 *
 * The layers keep their built-in class names and configs (BatchNormalization, Activation with
 * 'relu6' / 'swish'): saved models are unchanged and load in plain @tensorflow/tfjs. Inference,
 * other backends (cpu-js, wasm) and `NAS_NATIVE_TRAINING_OPS=0` take tfjs's own code paths.
 */
import type { Tensor, Tensor1D } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

type Tf = ReturnType<typeof loadTf>;

interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

/** The parts of tfjs-node's NodeJSKernelBackend used here. */
interface NativeBackend {
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_STRING: number; TF_ATTR_BOOL: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: Tensor[]): Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: Tensor[], numOutputs: number): Tensor[];
}

let override: boolean | undefined;

/** Force the fast paths on or off (tests compare the two); undefined restores the default. */
export function setNativeTrainingOps(enabled: boolean | undefined): void {
  override = enabled;
}

/** The native backend when the fast paths apply, else null. */
export function nativeBackend(tf: Tf = loadTf()): NativeBackend | null {
  const enabled = override ?? process.env.NAS_NATIVE_TRAINING_OPS !== '0';
  if (!enabled || tf.getBackend() !== 'tensorflow') return null;
  const b = tf.backend() as unknown as Partial<NativeBackend>;
  return typeof b.executeMultipleOutputs === 'function' && b.binding ? (b as NativeBackend) : null;
}

type Save = (t: Tensor[]) => void;
type GradFunc = (dy: Tensor, saved: Tensor[]) => Tensor | Tensor[];

/** tf.customGrad with the inputs typed as tensors and the save function last. */
function customGrad<A extends Tensor[]>(f: (...args: [...A, Save]) => { value: Tensor; gradFunc: GradFunc }): (...args: A) => Tensor {
  const tf = loadTf();
  return tf.customGrad(f as unknown as Parameters<Tf['customGrad']>[0]) as unknown as (...args: A) => Tensor;
}

function floatType(b: NativeBackend, name: string): OpAttr {
  return { name, type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

export interface BatchStatistics {
  mean: Tensor1D;
  /** Biased (divided by N), as tf.moments and tfjs-layers' BatchNormalization use it. */
  variance: Tensor1D;
}

/**
 * Batch normalisation of an NHWC float32 tensor with its own batch statistics, differentiable in
 * x, gamma and beta through FusedBatchNormGradV3. `onStatistics` sees the batch mean and biased
 * variance during the forward pass (they are disposed afterwards; keep what you need).
 */
export function batchNormTraining(
  b: NativeBackend,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
  onStatistics?: (s: BatchStatistics) => void,
): Tensor {
  const tf = loadTf();
  const common = [
    floatType(b, 'T'),
    floatType(b, 'U'),
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
  const forwardAttrs = [...common, { name: 'exponential_avg_factor', type: b.binding.TF_ATTR_FLOAT, value: 1 }];
  const op = customGrad<[Tensor, Tensor, Tensor]>((xs, g, bt, save) => {
    const empty = tf.tensor1d([], 'float32');
    // Outputs: y, batch mean, unbiased batch variance, and the reserve spaces holding the batch
    // mean and the biased variance that the gradient kernel expects back.
    const [y, , , r1, r2, r3] = b.executeMultipleOutputs('FusedBatchNormV3', forwardAttrs, [xs, g, bt, empty, empty], 6);
    onStatistics?.({ mean: r1 as Tensor1D, variance: r2 as Tensor1D });
    save([xs, g, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [sx, sg, s1, s2, s3] = saved;
        const [dx, dg, db] = b.executeMultipleOutputs('FusedBatchNormGradV3', common, [dy, sx, sg, s1, s2, s3], 5);
        return [dx, dg, db];
      },
    };
  });
  return op(x, gamma, beta);
}

/** min(max(x, 0), 6) with TensorFlow's Relu6Grad: dy where 0 < x < 6, else 0, as tfjs's minimum(6, relu(x)). */
export function relu6(b: NativeBackend, x: Tensor): Tensor {
  const tf = loadTf();
  const op = customGrad<[Tensor]>((xs, save) => {
    save([xs]);
    return {
      value: b.executeSingleOutput('Relu6', [floatType(b, 'T')], [xs]),
      gradFunc: (dy, [sx]) => b.executeSingleOutput('Relu6Grad', [floatType(b, 'T')], [dy, sx]),
    };
  });
  return op(x);
}

/** x * sigmoid(x); d/dx = s + x * s * (1 - s), with the last factor from TensorFlow's SigmoidGrad. */
export function swish(b: NativeBackend, x: Tensor): Tensor {
  const tf = loadTf();
  const op = customGrad<[Tensor]>((xs, save) => {
    const s = b.executeSingleOutput('Sigmoid', [floatType(b, 'T')], [xs]);
    save([xs, s]);
    return {
      value: tf.mul(xs, s),
      gradFunc: (dy, [sx, ss]) => {
        // dy * s + x * (dy * s * (1 - s))
        const viaSigmoid = b.executeSingleOutput('SigmoidGrad', [floatType(b, 'T')], [ss, dy]);
        return tf.add(tf.mul(dy, ss), tf.mul(sx, viaSigmoid));
      },
    };
  });
  return op(x);
}

type Kwargs = { training?: boolean } & Record<string, unknown>;
interface Layer {
  call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[];
}

interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): Tensor } | null;
  beta: { read(): Tensor } | null;
  movingMean: { read(): Tensor; write(t: Tensor): void };
  movingVariance: { read(): Tensor; write(t: Tensor): void };
}

/**
 * Gives a BatchNormalization layer the native training path: in training mode on a rank-4
 * channels-last float32 input, normalise with the batch statistics via FusedBatchNormV3 and update
 * the moving statistics exactly as tfjs-layers does (v -= (v - batch) * (1 - momentum), biased
 * variance). Everything else goes to the layer's own `call`. Returns the layer.
 */
export function withNativeBatchNorm<L extends Layer>(layer: L): L {
  const original = layer.call.bind(layer);
  const self = layer as unknown as BatchNormInternals;
  layer.call = (inputs: Tensor | Tensor[], kwargs: Kwargs) => {
    const tf = loadTf();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const b = kwargs?.training ? nativeBackend(tf) : null;
    const channelsLast = self.axis === -1 || self.axis === x.rank - 1;
    if (!b || x.rank !== 4 || !channelsLast || x.dtype !== 'float32' || !self.center || !self.scale || !self.gamma || !self.beta) {
      return original(inputs, kwargs);
    }
    return tf.tidy(() =>
      batchNormTraining(b, x, self.gamma!.read(), self.beta!.read(), self.epsilon, ({ mean, variance }) => {
        const decay = 1 - self.momentum;
        for (const [v, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
          tf.tidy(() => {
            const orig = v.read();
            v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
          });
        }
      }),
    );
  };
  return layer;
}

/** Gives an Activation layer ('relu6' or 'swish') the native kernels; other activations are left alone. */
export function withNativeActivation<L extends Layer>(layer: L, kind: string): L {
  if (kind !== 'relu6' && kind !== 'swish') return layer;
  const original = layer.call.bind(layer);
  layer.call = (inputs: Tensor | Tensor[], kwargs: Kwargs) => {
    const tf = loadTf();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const b = nativeBackend(tf);
    if (!b || x.dtype !== 'float32') return original(inputs, kwargs);
    return kind === 'relu6' ? relu6(b, x) : swish(b, x);
  };
  return layer;
}
