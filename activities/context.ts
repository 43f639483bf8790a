/**
 * What activities share within one worker process: opened artifact stores and loaded data sets.
 * Loading Fashion-MNIST or opening an S3 client once per process, not once per attempt.
 */
import { openArtifactStore, type ArtifactStore } from '../artifacts';
import type { ImageDataset } from '../engine/data/dataset';
import { loadCifar10 } from '../engine/data/cifar10';
import { fashionMnistDir, loadFashionMnist } from '../engine/data/fashion-mnist';
import { loadImageFolder } from '../engine/data/image-folder';
import { selectSamples } from '../engine/data/split';
import { mixSeed, seededPermutation } from '../core/random';
import type { DatasetConfig, StageData } from '../dsl/pipeline';

const stores = new Map<string, ArtifactStore>();
const datasets = new Map<string, ImageDataset>();

export function storeFor(location: string): ArtifactStore {
  let store = stores.get(location);
  if (!store) {
    store = openArtifactStore(location);
    stores.set(location, store);
  }
  return store;
}

function load(config: DatasetConfig, seed: number): ImageDataset {
  switch (config.name) {
    case 'fashion-mnist':
      return loadFashionMnist(fashionMnistDir(config.path));
    case 'cifar10':
      return loadCifar10(config.path);
    case 'image-folder':
      // Decoded images differ in size, so they are brought to the pipeline's resolution on load.
      return loadImageFolder(config.path, { size: config.resolution, channels: 3, seed });
  }
}

/** A stage's data: loaded once per process, and cut to the stage's `trainSubset` when it sets one. */
export function datasetFor(config: StageData, seed: number): ImageDataset {
  const key = JSON.stringify([config, seed]);
  let ds = datasets.get(key);
  if (!ds) {
    const { trainSubset, ...whole } = config;
    const full = trainSubset === undefined ? load(whole, seed) : datasetFor(whole, seed);
    ds = trainSubset === undefined ? full : cutTrainSplit(full, trainSubset, seed);
    datasets.set(key, ds);
  }
  return ds;
}

/** Salt so that the sample never coincides with the train/validation split drawn from the same seed. */
const SUBSET_SALT = 0x7b5e7;

/** A seeded sample of `count` training images; a subset of one seed is the same in every process. */
function cutTrainSplit(ds: ImageDataset, count: number, seed: number): ImageDataset {
  if (count >= ds.train.count) return ds;
  // Sorted, so that readers walk the copied bytes in their original order.
  const picked = seededPermutation(ds.train.count, mixSeed(seed, SUBSET_SALT)).slice(0, count).sort();
  return { ...ds, train: selectSamples(ds, ds.train, picked) };
}
