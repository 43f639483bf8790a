/**
 * "Precise BN": re-estimating a trained model's BatchNorm moving statistics from a fixed sample of
 * training images, as pycls (`compute_precise_bn_stats`), fvcore/detectron2 (`update_bn_stats`),
 * timm and Once-for-All do before evaluating or shipping a network.
 *
 * Why it is needed. In training mode BatchNorm normalises with the batch's own statistics and only
 * keeps an exponential moving average for inference: m <- momentum * m + (1 - momentum) * batch,
 * starting from mean 0 and variance 1. The EfficientNet/Keras momentum 0.99 (0.999 for MobileNetV2)
 * assumes thousands of steps: after n steps a fraction momentum^n of the initial value is left,
 * 0.99^50 = 61% after 50 steps and still 13% after 200. A conv on [0, 1] pixels whose outputs have
 * variance ~0.01 is then divided by sqrt(~0.6) instead of sqrt(0.01): every layer shrinks its
 * activations, the error compounds through the network, and the exported model predicts one class
 * for every image (test accuracy 1/classes) while the same weights with batch statistics are fine.
 * Even a fully warmed-up average lags behind the weights (it averages the statistics of the last
 * ~1/(1 - momentum) steps' weights, which a high learning rate keeps moving).
 *
 * Why this fix rather than a lower momentum. PyTorch's 0.1 (decay 0.9) would only shrink the
 * problem: 0.9^20 still leaves 12% of the initial variance, and the average still lags the
 * weights. A cumulative average over the first steps fixes the warm-up but not the lag. Re-estimating
 * the statistics with the final weights, as the plain mean of the batch statistics over a fixed
 * sample (the i-th of equal batches enters with momentum 1 - 1/i), makes them right however short or long the
 * training was: for long trainings it gives what the moving average converges to (or slightly
 * better, being of the final weights), so their accuracy does not drop. Training itself never reads
 * the moving statistics (it normalises with batch statistics), so re-estimating them changes no
 * trained weight, and because the first batch enters with momentum 0 the result depends only on the
 * weights and the sample (up to rounding): the trainer records the step it re-estimated at in its
 * checkpoints, so resumed runs stay bit-identical to uninterrupted ones. The configured momentum stays as the spec has it
 * (checkpoints and stored arch.json files keep their meaning); it only governs the statistics
 * between two re-estimations.
 *
 * The calibration passes run BatchNorm in training mode with dropout and drop-connect off
 * (`noiseFree`), on un-augmented images: the statistics inference will meet.
 */
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import type { NoiseKwargs } from '../blocks/seeded-dropout';
import { makeBatch } from '../data/batches';
import type { ImageDataset, ImageSplit } from '../data/dataset';
import { mixSeed, seededPermutation } from '../../core/random';

/** Training images the statistics are estimated from by default (pycls uses 8192 on ImageNet). */
export const DEFAULT_CALIBRATION_IMAGES = 1024;

/** The part of a tfjs BatchNormalization layer this module touches; tfjs and native-ops read `momentum` on every call. */
interface MomentumLayer {
  momentum: number;
}

interface LayerLike {
  getClassName(): string;
  layers?: LayerLike[];
}

/** Every BatchNormalization layer of the model, nested models included. */
export function batchNormLayers(model: LayersModel): MomentumLayer[] {
  const found: MomentumLayer[] = [];
  const walk = (layers: LayerLike[]) => {
    for (const l of layers) {
      if (l.getClassName() === 'BatchNormalization') found.push(l as unknown as MomentumLayer);
      else if (Array.isArray(l.layers)) walk(l.layers);
    }
  };
  walk(model.layers as unknown as LayerLike[]);
  return found;
}

/**
 * Sets every BatchNorm layer's moving mean and variance to the (image-weighted) mean of its batch
 * statistics over `batches` (each an input tensor, disposed here once used). Returns the number of
 * batches used; with none, or a model without BatchNorm, nothing changes.
 */
export function recalibrateBatchNorm(model: LayersModel, batches: Iterable<Tensor>): number {
  const steps = recalibrationSteps(model, batches);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * The same, yielding to the event loop after every batch (and calling `onBatch`, e.g. to
 * heartbeat): for activities, whose heartbeats and data plane a long synchronous pass would stall.
 */
export async function recalibrateBatchNormYielding(model: LayersModel, batches: Iterable<Tensor>, onBatch?: () => void | Promise<void>): Promise<number> {
  const steps = recalibrationSteps(model, batches);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    await onBatch?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** One batch per step; the momenta are put back however the pass ends (a throwing `onBatch` included). */
function* recalibrationSteps(model: LayersModel, batches: Iterable<Tensor>): Generator<void, number> {
  const tf = loadTf();
  const layers = batchNormLayers(model);
  const momenta = layers.map((l) => l.momentum);
  let used = 0;
  let seen = 0;
  try {
    for (const xs of batches) {
      try {
        if (layers.length === 0) continue;
        // A batch of n after `seen` images enters with weight n / (seen + n): the moving value
        // becomes the image-weighted mean of the batch statistics (the first batch replaces it).
        const n = xs.shape[0] ?? 1;
        for (const l of layers) l.momentum = seen / (seen + n);
        const kwargs: NoiseKwargs = { training: true, noiseFree: true };
        tf.tidy(() => {
          model.apply(xs, kwargs);
        });
        used++;
        seen += n;
      } finally {
        xs.dispose();
      }
      // Momenta restored while the caller waits: nothing else that runs meanwhile sees them changed.
      const changed = layers.map((l) => l.momentum);
      layers.forEach((l, k) => (l.momentum = momenta[k]));
      yield;
      layers.forEach((l, k) => (l.momentum = changed[k]));
    }
  } finally {
    layers.forEach((l, k) => (l.momentum = momenta[k]));
  }
  return layers.length === 0 ? 0 : used;
}

/** Salt that keeps the calibration sample unrelated to epoch orders and splits of the same seed. */
const CALIBRATION_SALT = 0xb4ca1;

/**
 * A fixed, seeded sample of at most `images` of `pool` (indices into a split), sorted: the same
 * (pool, images, seed) always gives the same sample, in every process and every attempt.
 */
export function calibrationSample(pool: Uint32Array, images: number, seed: number): Uint32Array {
  const n = Math.min(pool.length, Math.max(0, Math.floor(images)));
  const perm = seededPermutation(pool.length, mixSeed(seed, CALIBRATION_SALT));
  return Uint32Array.from(perm.subarray(0, n), (i) => pool[i]).sort();
}

/** The images of `indices` as model inputs (resized to `size`), in batches of `batchSize`, made lazily. */
export function* calibrationBatches(data: ImageDataset, split: ImageSplit, indices: Uint32Array, batchSize: number, size: number): Generator<Tensor> {
  const step = Math.max(1, Math.floor(batchSize));
  for (let start = 0; start < indices.length; start += step) {
    const { xs, ys } = makeBatch(data, split, indices.subarray(start, Math.min(indices.length, start + step)), { size });
    ys.dispose();
    yield xs;
  }
}

export interface RecalibrateOptions {
  /** Indices of `split` to draw from; default all of it. */
  pool?: Uint32Array;
  /** How many images; default DEFAULT_CALIBRATION_IMAGES. 0 leaves the statistics alone. */
  images?: number;
  /** Images per forward pass: the training batch size, so the batch statistics are of the size BatchNorm saw. */
  batchSize: number;
  seed: number;
}

/** Precise BN on a data set's split: a seeded sample, un-augmented, at the model's resolution. */
export function recalibrateOnSplit(model: LayersModel, data: ImageDataset, split: ImageSplit, o: RecalibrateOptions): number {
  const sample = sampleOf(split, o);
  return sample.length === 0 ? 0 : recalibrateBatchNorm(model, calibrationBatches(data, split, sample, o.batchSize, model.inputs[0].shape[1] as number));
}

/** The same, yielding to the event loop after every batch and calling `onBatch` (activities: heartbeats). */
export async function recalibrateOnSplitYielding(model: LayersModel, data: ImageDataset, split: ImageSplit, o: RecalibrateOptions & { onBatch?: () => void | Promise<void> }): Promise<number> {
  const sample = sampleOf(split, o);
  return sample.length === 0 ? 0 : recalibrateBatchNormYielding(model, calibrationBatches(data, split, sample, o.batchSize, model.inputs[0].shape[1] as number), o.onBatch);
}

function sampleOf(split: ImageSplit, o: RecalibrateOptions): Uint32Array {
  const pool = o.pool ?? Uint32Array.from({ length: split.count }, (_, i) => i);
  return calibrationSample(pool, o.images ?? DEFAULT_CALIBRATION_IMAGES, o.seed);
}
