/**
 * The native training kernels (engine/blocks/native-ops.ts) must compute what tfjs-layers'
 * op-by-op paths compute: same loss, same gradients for every trainable weight, same moving
 * statistics after a step, up to float32 rounding. Checked on small MBConv networks with ReLU6
 * (MobileNetV2) and Swish + SE (EfficientNet), built twice from the same seed.
 */
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../../../engine/backend';
import type { ArchSpecInput } from '../../../engine/arch/spec';
import { nativeBackend, setNativeTrainingOps } from '../../../engine/blocks/native-ops';
import { buildArchModel } from '../../../engine/models/arch-model';

const tf = loadTf();

function arch(activation: 'relu6' | 'swish', seRatio: number): ArchSpecInput {
  return {
    name: `tiny-${activation}`,
    resolution: 8,
    inputChannels: 1,
    numClasses: 4,
    activation,
    stem: { channels: 8, kernel: 3, stride: 1 },
    blocks: [
      { expansion: 1, kernel: 3, stride: 1, outChannels: 8, seRatio },
      { expansion: 3, kernel: 3, stride: 2, outChannels: 12, seRatio },
      { expansion: 3, kernel: 5, stride: 1, outChannels: 12, seRatio },
    ],
    headChannels: 16,
    dropout: 0,
    dropConnect: 0,
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
  };
}

interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
  weights: Map<string, Float32Array>;
}

/** One forward/backward in training mode; returns the loss, the gradients and the weights after (moving stats updated). */
function step(spec: ArchSpecInput, native: boolean): StepResult {
  setNativeTrainingOps(native);
  try {
    const model = buildArchModel(spec, { seed: 3 });
    // Scale and shift the BN parameters away from 1/0 so their gradients are exercised.
    for (const w of model.trainableWeights) {
      if (/\/(gamma|beta)$/.test(w.originalName)) {
        const n = w.shape[0] as number;
        w.write(tf.tensor1d(Array.from({ length: n }, (_, i) => (w.originalName.endsWith('gamma') ? 0.5 + 0.1 * (i % 7) : 0.2 * ((i % 5) - 2)))));
      }
    }
    const xs = tf.randomNormal([6, 8, 8, 1], 0.5, 2, 'float32', 11);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4).toFloat();
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as Tensor) as Scalar,
      vars,
    );
    const result: StepResult = { loss: value.dataSync()[0], grads: new Map(), weights: new Map() };
    model.trainableWeights.forEach((w, i) => result.grads.set(w.originalName, grads[vars[i].name].dataSync() as Float32Array));
    for (const w of model.weights) result.weights.set(w.originalName, w.read().dataSync() as Float32Array);
    tf.dispose([value, xs, ys, ...Object.values(grads)]);
    model.dispose();
    return result;
  } finally {
    setNativeTrainingOps(undefined);
  }
}

/** Largest difference relative to b's largest entry; entries that are rounding noise around 0 (a shift followed by BN) count against 1e-4. */
function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 1e-4;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return diff / scale;
}

const onNative = nativeBackend(tf) !== null;
(onNative ? describe : describe.skip)('native training kernels match the tfjs-layers paths', () => {
  it.each([
    ['relu6, no SE (MobileNetV2)', arch('relu6', 0)],
    ['swish with SE (EfficientNet)', arch('swish', 0.25)],
  ])('%s: loss, every gradient and the moving statistics agree', (_, spec) => {
    const fast = step(spec, true);
    const reference = step(spec, false);
    expect(fast.loss).toBeCloseTo(reference.loss, 5);
    expect([...fast.grads.keys()]).toEqual([...reference.grads.keys()]);
    for (const [name, g] of reference.grads) {
      const d = maxRelDiff(fast.grads.get(name)!, g);
      if (d > 1e-3) throw new Error(`gradient of ${name} differs by ${d} (relative to its largest entry): ${fast.grads.get(name)!.slice(0, 6)} vs ${g.slice(0, 6)}`);
    }
    expect([...fast.weights.keys()].some((n) => n.endsWith('moving_variance'))).toBe(true);
    for (const [name, w] of reference.weights) {
      const d = maxRelDiff(fast.weights.get(name)!, w);
      if (d > 1e-5) throw new Error(`weight ${name} differs by ${d} after the step`);
    }
  });

  it('leaks no tensors and leaves inference unchanged', () => {
    setNativeTrainingOps(true);
    try {
      const model = buildArchModel(arch('relu6', 0), { seed: 1 });
      const xs = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 5);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => tf.mean(model.apply(xs, { training: true }) as Tensor) as Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      const fast = tf.tidy(() => (model.apply(xs, { training: false }) as Tensor).dataSync());
      setNativeTrainingOps(false);
      const reference = tf.tidy(() => (model.apply(xs, { training: false }) as Tensor).dataSync());
      expect(maxRelDiff(fast as Float32Array, reference as Float32Array)).toBeLessThan(1e-6);
      tf.dispose(xs);
      model.dispose();
    } finally {
      setNativeTrainingOps(undefined);
    }
  });
});
