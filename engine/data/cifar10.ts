/**
 * CIFAR-10 in its binary distribution (cifar-10-batches-bin): data_batch_1..5.bin for training,
 * test_batch.bin for test; each record is 1 label byte then 3072 pixel bytes, stored channel-major
 * (1024 red, 1024 green, 1024 blue). Converted once at load to the HWC layout the engine uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDataset, ImageSplit } from './dataset';
import { DatasetNotFoundError } from './fashion-mnist';
import { DatasetFormatError } from './idx';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = 'test_batch.bin';

/** Decodes concatenated records into an HWC split. */
export function parseCifarRecords(bytes: Uint8Array, file = '<buffer>'): ImageSplit {
  if (bytes.length % RECORD !== 0) {
    throw new DatasetFormatError(file, `size ${bytes.length} is not a multiple of the ${RECORD}-byte CIFAR-10 record`);
  }
  const count = bytes.length / RECORD;
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const rec = n * RECORD;
    const label = bytes[rec];
    if (label > 9) throw new DatasetFormatError(file, `record ${n} has label ${label}, not 0..9`);
    labels[n] = label;
    const out = n * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      for (let ch = 0; ch < 3; ch++) images[out + p * 3 + ch] = bytes[rec + 1 + ch * PLANE + p];
    }
  }
  return { images, labels, count };
}

function concatSplits(splits: ImageSplit[]): ImageSplit {
  const count = splits.reduce((s, x) => s + x.count, 0);
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const s of splits) {
    images.set(s.images, at * 3 * PLANE);
    labels.set(s.labels, at);
    at += s.count;
  }
  return { images, labels, count };
}

/** `dir` holds the .bin files, or is the folder that contains cifar-10-batches-bin/. */
export function loadCifar10(dir: string): ImageDataset {
  const root = existsSync(join(dir, 'cifar-10-batches-bin')) ? join(dir, 'cifar-10-batches-bin') : dir;
  const read = (name: string) => {
    const file = join(root, name);
    if (!existsSync(file)) {
      throw new DatasetNotFoundError(`CIFAR-10 file ${name} not found in ${root}; unpack cifar-10-binary.tar.gz (the "binary version") there`);
    }
    return parseCifarRecords(readFileSync(file), file);
  };
  const metaFile = join(root, 'batches.meta.txt');
  const classNames = existsSync(metaFile)
    ? readFileSync(metaFile, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean)
    : CIFAR10_CLASSES;
  return {
    name: 'cifar-10',
    height: SIDE,
    width: SIDE,
    channels: 3,
    numClasses: 10,
    classNames: classNames.length === 10 ? classNames : CIFAR10_CLASSES,
    train: concatSplits(TRAIN_FILES.map(read)),
    test: read(TEST_FILE),
  };
}
