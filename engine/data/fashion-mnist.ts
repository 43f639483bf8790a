/** Fashion-MNIST from the IDX files that Debian's `dataset-fashion-mnist` installs. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetFormatError, readIdxFile } from './idx';
import type { ImageDataset, ImageSplit } from './dataset';

export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export class DatasetNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetNotFoundError';
  }
}

export function fashionMnistDir(explicit?: string): string {
  return explicit ?? process.env.NAS_FASHION_MNIST_DIR ?? DEFAULT_FASHION_MNIST_DIR;
}

/** The path of one IDX file, gzipped or not, or an error that says how to get it. */
function locate(dir: string, base: string): string {
  for (const candidate of [join(dir, `${base}.gz`), join(dir, base)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new DatasetNotFoundError(
    `Fashion-MNIST file ${base}(.gz) not found in ${dir}; install Debian's dataset-fashion-mnist ` +
      `(infra/setup.sh does) or set dataset.path / NAS_FASHION_MNIST_DIR`,
  );
}

export function findFashionMnist(dir = fashionMnistDir()): string[] {
  return Object.values(FILES).map((base) => locate(dir, base));
}

function loadSplit(dir: string, imagesBase: string, labelsBase: string): ImageSplit {
  const imagesFile = locate(dir, imagesBase);
  const labelsFile = locate(dir, labelsBase);
  const images = readIdxFile(imagesFile);
  const labels = readIdxFile(labelsFile);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new DatasetFormatError(imagesFile, `expected N x 28 x 28 images, got ${images.dims.join(' x ')}`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new DatasetFormatError(labelsFile, `expected ${images.dims[0]} labels, got ${labels.dims.join(' x ')}`);
  }
  const bad = labels.data.findIndex((l) => l > 9);
  if (bad >= 0) throw new DatasetFormatError(labelsFile, `label ${labels.data[bad]} at index ${bad} is not in 0..9`);
  return { images: images.data, labels: labels.data, count: images.dims[0] };
}

export function loadFashionMnist(dir = fashionMnistDir()): ImageDataset {
  return {
    name: 'fashion-mnist',
    height: 28,
    width: 28,
    channels: 1,
    numClasses: 10,
    classNames: FASHION_MNIST_CLASSES,
    train: loadSplit(dir, FILES.trainImages, FILES.trainLabels),
    test: loadSplit(dir, FILES.testImages, FILES.testLabels),
  };
}
