import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Tensor3D } from '@tensorflow/tfjs-node';
import { loadTf } from '../../../../engine/backend';
import { augmentImages } from '../../../../engine/data/augment';
import { makeBatch } from '../../../../engine/data/batches';
import { loadCifar10, parseCifarRecords } from '../../../../engine/data/cifar10';
import type { ImageDataset } from '../../../../engine/data/dataset';
import { loadFashionMnist } from '../../../../engine/data/fashion-mnist';
import { DatasetFormatError } from '../../../../engine/data/idx';
import { loadImageFolder } from '../../../../engine/data/image-folder';
import { splitIndices, subsetDataset } from '../../../../engine/data/split';

const tf = loadTf();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'engine-data-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe('Fashion-MNIST IDX loader', () => {
  it('reads gzipped IDX files', () => {
    const images = (n: number) => Uint8Array.from({ length: n * 784 }, (_, i) => i % 251);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx([3, 28, 28], images(3))));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([3], Uint8Array.from([0, 9, 4]))));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([2, 28, 28], images(2)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([2], Uint8Array.from([1, 2])));
    const ds = loadFashionMnist(dir);
    expect([ds.train.count, ds.test.count, ds.channels]).toEqual([3, 2, 1]);
    expect(Array.from(ds.train.labels)).toEqual([0, 9, 4]);
    expect(ds.train.images[785]).toBe(785 % 251);
  });
});

describe('CIFAR-10 binary loader', () => {
  /** One record: label, then R, G, B planes where pixel p of channel c holds (p + 50 c) % 256. */
  function record(label: number): Uint8Array {
    const r = new Uint8Array(3073);
    r[0] = label;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) r[1 + c * 1024 + p] = (p + 50 * c) % 256;
    return r;
  }
  it('reads data_batch_1..5 and test_batch and converts CHW to HWC', () => {
    const sub = join(dir, 'cifar-10-batches-bin');
    mkdirSync(sub);
    for (let i = 1; i <= 5; i++) writeFileSync(join(sub, `data_batch_${i}.bin`), Buffer.concat([record(i), record(9)]));
    writeFileSync(join(sub, 'test_batch.bin'), record(3));
    const ds = loadCifar10(dir);
    expect([ds.train.count, ds.test.count, ds.height, ds.channels, ds.classNames[0]]).toEqual([10, 1, 32, 3, 'airplane']);
    expect(Array.from(ds.train.labels)).toEqual([1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    // Pixel (y=1, x=2) is p = 34: HWC puts its R, G, B next to each other.
    const at = (1 * 32 + 2) * 3;
    expect(Array.from(ds.test.images.subarray(at, at + 3))).toEqual([34, 84, 134]);
  });
  it('rejects a truncated file and a missing one with the file name', () => {
    expect(() => parseCifarRecords(new Uint8Array(3000), 'x.bin')).toThrow(DatasetFormatError);
    expect(() => loadCifar10(dir)).toThrow(/data_batch_1.bin not found/);
  });
});

describe('image-folder loader', () => {
  async function png(file: string, value: number, size: number, channels: 1 | 3) {
    const t = tf.fill([size, size, channels], value, 'int32') as Tensor3D;
    writeFileSync(file, await tf.node.encodePng(t));
    t.dispose();
  }
  it('decodes PNGs from one sub-folder per class, resizes, and splits by a seeded fraction', async () => {
    for (const [cls, value] of [['cat', 40], ['dog', 200]] as const) {
      mkdirSync(join(dir, cls));
      for (let i = 0; i < 5; i++) await png(join(dir, cls, `${i}.png`), value, 12, 3);
    }
    writeFileSync(join(dir, 'cat', 'notes.txt'), 'not an image');
    const ds = loadImageFolder(dir, { size: 6, channels: 1, testFraction: 0.2, seed: 1 });
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect([ds.train.count, ds.test.count, ds.height, ds.channels]).toEqual([8, 2, 6, 1]);
    for (const split of [ds.train, ds.test]) {
      for (let i = 0; i < split.count; i++) {
        // Grey conversion of a flat RGB value keeps the value; resize of a flat image too.
        expect(split.images[i * 36 + 7]).toBe(split.labels[i] === 0 ? 40 : 200);
      }
    }
    const again = loadImageFolder(dir, { size: 6, channels: 1, testFraction: 0.2, seed: 1 });
    expect(Array.from(again.test.labels)).toEqual(Array.from(ds.test.labels));
  });
  it('uses train/ and test/ when present, and says what is missing', async () => {
    for (const split of ['train', 'test']) {
      for (const cls of ['a', 'b']) {
        mkdirSync(join(dir, split, cls), { recursive: true });
        await png(join(dir, split, cls, 'x.png'), 9, 4, 3);
      }
    }
    const ds = loadImageFolder(dir, { size: 4, channels: 3 });
    expect([ds.train.count, ds.test.count]).toEqual([2, 2]);
    expect(() => loadImageFolder(join(dir, 'train', 'a'), { size: 4, channels: 3 })).toThrow(/one sub-folder per class/);
  });
});

describe('splits, augmentation and batches', () => {
  it('splits reproducibly and disjointly', () => {
    const a = splitIndices(100, 0.1, 7);
    expect([a.train.length, a.validation.length]).toEqual([90, 10]);
    expect(new Set([...a.train, ...a.validation]).size).toBe(100);
    expect(Array.from(splitIndices(100, 0.1, 7).validation)).toEqual(Array.from(a.validation));
    expect(Array.from(splitIndices(100, 0.1, 8).validation)).not.toEqual(Array.from(a.validation));
  });
  it('flips and shifts exactly, reproducibly per seed', () => {
    const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]); // 3x3x1
    const flipped = new Uint8Array(9);
    // Find a seed whose draw flips: with padding 0 there is one draw per image.
    let seed = 0;
    do augmentImages(src, flipped, 1, 3, 3, 1, { padding: 0, flip: true }, ++seed);
    while (flipped[0] === 1);
    expect(Array.from(flipped)).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7]);
    const a = new Uint8Array(9 * 4);
    const b = new Uint8Array(9 * 4);
    const four = Uint8Array.from({ length: 36 }, (_, i) => (i % 9) + 1);
    augmentImages(four, a, 4, 3, 3, 1, { padding: 1, flip: false }, 5);
    augmentImages(four, b, 4, 3, 3, 1, { padding: 1, flip: false }, 5);
    expect(Array.from(a)).toEqual(Array.from(b));
    // A shifted crop keeps a 2x2 window of the original and zero-fills the rest.
    for (let n = 0; n < 4; n++) {
      const img = Array.from(a.subarray(n * 9, n * 9 + 9));
      expect(img.filter((v) => v === 0).length).toBeLessThanOrEqual(5);
    }
  });
  it('makes batches resized to the model resolution without touching the data set', () => {
    const ds: ImageDataset = {
      name: 't', height: 4, width: 4, channels: 1, numClasses: 2, classNames: ['a', 'b'],
      train: { images: Uint8Array.from({ length: 64 }, () => 255), labels: Uint8Array.from([0, 1, 1, 0]), count: 4 },
      test: { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0 },
    };
    const batch = makeBatch(ds, ds.train, Uint32Array.from([2, 0]), { size: 8, augment: { padding: 1, flip: true }, augmentSeed: 1 });
    expect(batch.xs.shape).toEqual([2, 8, 8, 1]);
    expect(Array.from(batch.ys.dataSync())).toEqual([0, 1, 1, 0]);
    expect(ds.train.images.every((v) => v === 255)).toBe(true);
    tf.dispose([batch.xs, batch.ys]);
    const sub = subsetDataset(ds, 2, 0, 1);
    expect(sub.train.count).toBe(2);
  });
});
