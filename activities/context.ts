/**
 * What activities share within one worker process: opened artifact stores and loaded data sets.
 * Loading Fashion-MNIST or opening an S3 client once per process, not once per attempt.
 */
import { openArtifactStore, type ArtifactStore } from '../artifacts';
import type { ImageDataset } from '../engine/data/dataset';
import { fashionMnistDir, loadFashionMnist } from '../engine/data/fashion-mnist';
import type { DatasetConfig } from '../dsl/pipeline';

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

export function datasetFor(config: DatasetConfig): ImageDataset {
  const key = `${config.name}:${config.path ?? ''}`;
  let ds = datasets.get(key);
  if (!ds) {
    ds = loadFashionMnist(fashionMnistDir(config.path));
    datasets.set(key, ds);
  }
  return ds;
}

/** Artifact keys of one run's stage; the one place that lays out a run's folder. */
export function stageKeys(runId: string, stage: string) {
  const base = `runs/${runId}/${stage}`;
  return {
    base,
    checkpoints: `${base}/checkpoints/`,
    checkpoint: (step: number) => `${base}/checkpoints/step-${String(step).padStart(9, '0')}.ckpt`,
    modelJson: `${base}/model/model.json`,
    modelWeights: `${base}/model/weights.bin`,
    metrics: `${base}/metrics.json`,
  };
}
