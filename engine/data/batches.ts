/**
 * Batches as tensors, made on demand from a split's bytes and an index order. Pixels are scaled to
 * [0, 1]; labels become one-hot. Nothing per epoch copies the whole split.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { mixSeed, seededPermutation } from '../random';
import { pixelsPerImage, type ImageDataset, type ImageSplit } from './dataset';

export interface Batch {
  xs: Tensor4D;
  ys: Tensor2D;
  /** Indices of the samples in this batch, for exact-once accounting. */
  indices: Uint32Array;
}

/** The order in which one epoch visits the training split: a pure function of (seed, epoch). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  return seededPermutation(count, mixSeed(seed, epoch));
}

export function makeBatch(ds: ImageDataset, split: ImageSplit, indices: Uint32Array): Batch {
  const tf = loadTf();
  const ppi = pixelsPerImage(ds);
  const pixels = new Float32Array(indices.length * ppi);
  const labels = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * ppi;
    for (let p = 0; p < ppi; p++) pixels[b * ppi + p] = split.images[src + p] / 255;
    labels[b] = split.labels[indices[b]];
  }
  const xs = tf.tensor4d(pixels, [indices.length, ds.height, ds.width, ds.channels]);
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
