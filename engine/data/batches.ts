/**
 * Batches as tensors, made on demand from a split's bytes and an index order. Pixels are scaled to
 * [0, 1]; labels become one-hot. Optional per-batch augmentation and a bilinear resize to the
 * model's resolution. Nothing per epoch copies the whole split.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { mixSeed, seededPermutation } from '../../core/random';
import { augmentImages, type AugmentOptions } from './augment';
import { pixelsPerImage, type ImageDataset, type ImageSplit } from './dataset';

export interface Batch {
  xs: Tensor4D;
  ys: Tensor2D;
  /** Indices of the samples in this batch, for exact-once accounting. */
  indices: Uint32Array;
}

export interface BatchOptions {
  /** Augment with draws seeded by `augmentSeed` (training batches only). */
  augment?: AugmentOptions;
  augmentSeed?: number;
  /** Resize to size x size when it differs from the data set's own size. */
  size?: number;
}

/** The order in which one epoch visits the training split: a pure function of (seed, epoch). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  return seededPermutation(count, mixSeed(seed, epoch));
}

export function makeBatch(ds: ImageDataset, split: ImageSplit, indices: Uint32Array, opts: BatchOptions = {}): Batch {
  const tf = loadTf();
  const ppi = pixelsPerImage(ds);
  let bytes = new Uint8Array(indices.length * ppi);
  const labels = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * ppi;
    bytes.set(split.images.subarray(src, src + ppi), b * ppi);
    labels[b] = split.labels[indices[b]];
  }
  if (opts.augment && (opts.augment.padding > 0 || opts.augment.flip)) {
    const augmented = new Uint8Array(bytes.length);
    augmentImages(bytes, augmented, indices.length, ds.height, ds.width, ds.channels, opts.augment, opts.augmentSeed ?? 0);
    bytes = augmented;
  }
  const pixels = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) pixels[i] = bytes[i] / 255;
  let xs = tf.tensor4d(pixels, [indices.length, ds.height, ds.width, ds.channels]);
  if (opts.size !== undefined && (opts.size !== ds.height || opts.size !== ds.width)) {
    const resized = tf.image.resizeBilinear(xs, [opts.size, opts.size]);
    xs.dispose();
    xs = resized;
  }
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), ds.numClasses).toFloat() as Tensor2D);
  return { xs, ys, indices };
}

/** Consecutive index ranges [0, n) in chunks of `size`, for evaluation. */
export function* sequentialChunks(count: number, size: number): Generator<Uint32Array> {
  for (let start = 0; start < count; start += size) {
    const end = Math.min(count, start + size);
    const chunk = new Uint32Array(end - start);
    for (let i = 0; i < chunk.length; i++) chunk[i] = start + i;
    yield chunk;
  }
}

/** The images of `indices` (into `split`), in consecutive batches of at most `size`, labels left out. */
export function imageBatches(ds: ImageDataset, split: ImageSplit, indices: Uint32Array, size: number, opts: BatchOptions = {}): Tensor4D[] {
  return Array.from(sequentialChunks(indices.length, size), (chunk) => {
    const { xs, ys } = makeBatch(ds, split, Uint32Array.from(chunk, (k) => indices[k]), opts);
    ys.dispose();
    return xs;
  });
}
