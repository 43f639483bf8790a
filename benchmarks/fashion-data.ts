/** Fashion-MNIST for benchmark scripts: the whole set, or seeded subsets chosen by `--train-subset` / `--test-subset`. */
import type { ImageDataset } from '../engine/data/dataset';
import { loadFashionMnist } from '../engine/data/fashion-mnist';
import { subsetDataset } from '../engine/data/split';

export function fashionMnistForBenchmark(trainSubset: string | undefined, testSubset: string | undefined, seed: number): ImageDataset {
  const data = loadFashionMnist();
  if (!trainSubset && !testSubset) return data;
  return subsetDataset(data, Number(trainSubset ?? data.train.count), Number(testSubset ?? data.test.count), seed);
}
