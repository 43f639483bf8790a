/**
 * A small Fashion-MNIST in real IDX files, cut from the real data set, so integration tests run
 * the real loader on real images in seconds rather than minutes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findFashionMnist } from '../../../engine/data/fashion-mnist';
import { readIdxFile } from '../../../engine/data/idx';

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([header, Buffer.from(data)]));
}

export function writeFashionSubset(dir: string, trainCount: number, testCount: number): string {
  mkdirSync(dir, { recursive: true });
  const [trainImages, trainLabels, testImages, testLabels] = findFashionMnist().map(readIdxFile);
  const cut = (name: string, images: typeof trainImages, labels: typeof trainLabels, n: number) => {
    writeFileSync(join(dir, `${name}-images-idx3-ubyte.gz`), idx([n, 28, 28], images.data.subarray(0, n * 784)));
    writeFileSync(join(dir, `${name}-labels-idx1-ubyte.gz`), idx([n], labels.data.subarray(0, n)));
  };
  cut('train', trainImages, trainLabels, trainCount);
  cut('t10k', testImages, testLabels, testCount);
  return dir;
}
