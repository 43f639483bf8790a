/** The small search space the supernet suites use (skips, two kernels, expansions and an SE choice), its made-up latency table and seeded batches. */
import { decisionsOf, SearchSpaceSchema } from '../../dsl/search-space';
import { loadTf } from '../../engine/backend';
import { mulberry32 } from '../../core/random';
import type { TrainBatch } from '../../engine/supernet';

export const space = SearchSpaceSchema.parse({
  inputResolution: 8,
  stem: { channels: 4, stride: 1 },
  stages: [
    { channels: 4, repeats: 2, stride: 1, kernels: [3, 5], expansions: [1, 2], skip: true },
    { channels: 8, repeats: 2, stride: 2, kernels: [3], expansions: [2, 3], se: [true, false], skip: true },
  ],
  head: { channels: 8, dropout: 0 },
});

export const decisions = decisionsOf(space);

/** Per decision, per option, a latency in ms: later decisions and later options cost more. */
export const latencyTable = decisions.map((d, i) => d.options.map((_, j) => 0.5 + 0.25 * i + 0.1 * j));

/** n seeded random 8x8x1 images with one-hot labels of 3 classes. */
export function randomBatch(seed: number, n = 6): TrainBatch {
  const tf = loadTf();
  const rand = mulberry32(seed);
  return tf.tidy(() => ({
    xs: tf.tensor4d(Float32Array.from({ length: n * 64 }, () => rand()), [n, 8, 8, 1]),
    ys: tf.oneHot(tf.tensor1d(Array.from({ length: n }, () => Math.floor(rand() * 3)), 'int32'), 3).toFloat(),
  }));
}
