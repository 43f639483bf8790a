/**
 * Seeded train/validation splits as index lists into one split's bytes: no pixels are copied,
 * and the same (count, fraction, seed) always gives the same split.
 */
import { mixSeed, seededPermutation } from '../../core/random';
import { pixelsPerImage, type ImageDataset, type ImageSplit } from './dataset';

export interface IndexSplit {
  train: Uint32Array;
  validation: Uint32Array;
}

/** A fixed salt so the split never coincides with an epoch order drawn from the same seed. */
const SPLIT_SALT = 0x5f1173;

export function splitIndices(count: number, validationFraction: number, seed: number): IndexSplit {
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new Error(`validation fraction must be in [0, 1), got ${validationFraction}`);
  }
  const nVal = Math.round(count * validationFraction);
  const perm = seededPermutation(count, mixSeed(seed, SPLIT_SALT));
  // Sorted, so later readers walk the bytes in order.
  const validation = perm.slice(0, nVal).sort();
  const train = perm.slice(nVal).sort();
  return { train, validation };
}

/** A copy of the chosen samples: for subsets made once (benchmarks, tests), never per epoch. */
export function selectSamples(ds: Pick<ImageDataset, 'height' | 'width' | 'channels'>, split: ImageSplit, indices: ArrayLike<number>): ImageSplit {
  const ppi = pixelsPerImage(ds);
  const images = new Uint8Array(indices.length * ppi);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i] * ppi;
    images.set(split.images.subarray(src, src + ppi), i * ppi);
    labels[i] = split.labels[indices[i]];
  }
  return { images, labels, count: indices.length };
}

/** The first `n` training and test samples of a data set in a seeded random order: a quick subset. */
export function subsetDataset(ds: ImageDataset, trainCount: number, testCount: number, seed: number): ImageDataset {
  const pick = (split: ImageSplit, n: number) =>
    selectSamples(ds, split, seededPermutation(split.count, mixSeed(seed, n)).slice(0, Math.min(n, split.count)).sort());
  return { ...ds, train: pick(ds.train, trainCount), test: pick(ds.test, testCount) };
}
