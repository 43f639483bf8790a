/**
 * A user's own images, one sub-folder per class (the torchvision ImageFolder layout). Either
 * root/train/<class>/* and root/test/<class>/*, or root/<class>/* split into train and test by
 * a seeded fraction. PNG, JPEG, BMP and GIF (first frame) are decoded by TensorFlow and resized
 * once to a fixed size, so the set is held as uint8 like the built-in ones.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Tensor3D, Tensor4D } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import type { ImageDataset, ImageSplit } from './dataset';
import { DatasetNotFoundError } from './fashion-mnist';
import { DatasetFormatError } from './idx';
import { selectSamples, splitIndices } from './split';

export interface ImageFolderOptions {
  /** Every image is resized (bilinear) to size x size. */
  size: number;
  /** 1 for grey, 3 for RGB; images are converted on decode. */
  channels: 1 | 3;
  /** Used only without train/ and test/ sub-folders. Default 0.2. */
  testFraction?: number;
  seed?: number;
}

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.gif']);

function subdirs(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isDirectory())
    .sort();
}

function listImages(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => EXTENSIONS.has(extname(n).toLowerCase()))
    .sort()
    .map((n) => join(dir, n));
}

function decodeInto(file: string, out: Uint8Array, offset: number, o: ImageFolderOptions): void {
  const tf = loadTf();
  let decoded: Tensor3D | Tensor4D;
  try {
    decoded = tf.node.decodeImage(readFileSync(file), o.channels, 'int32', false);
  } catch (err) {
    throw new DatasetFormatError(file, `cannot decode image (${(err as Error).message.split('\n')[0]})`);
  }
  const pixels = tf.tidy(() => {
    // GIFs decode as frames x H x W x C; the first frame is the image.
    const image = (decoded.rank === 4 ? (decoded as Tensor4D).slice(0, 1).squeeze([0]) : decoded) as Tensor3D;
    const sized = image.shape[0] === o.size && image.shape[1] === o.size ? image.toFloat() : tf.image.resizeBilinear(image.toFloat(), [o.size, o.size]);
    return sized.round().clipByValue(0, 255).dataSync();
  });
  decoded.dispose();
  for (let i = 0; i < pixels.length; i++) out[offset + i] = pixels[i];
}

function loadSplit(dir: string, classNames: string[], o: ImageFolderOptions): ImageSplit {
  const files: { file: string; label: number }[] = [];
  classNames.forEach((name, label) => {
    const classDir = join(dir, name);
    if (existsSync(classDir)) for (const file of listImages(classDir)) files.push({ file, label });
  });
  const ppi = o.size * o.size * o.channels;
  const images = new Uint8Array(files.length * ppi);
  const labels = new Uint8Array(files.length);
  files.forEach(({ file, label }, i) => {
    decodeInto(file, images, i * ppi, o);
    labels[i] = label;
  });
  return { images, labels, count: files.length };
}

export function loadImageFolder(root: string, o: ImageFolderOptions): ImageDataset {
  if (!existsSync(root)) throw new DatasetNotFoundError(`image folder ${root} does not exist`);
  const hasSplits = existsSync(join(root, 'train')) && existsSync(join(root, 'test'));
  const classRoot = hasSplits ? join(root, 'train') : root;
  const classNames = subdirs(classRoot);
  if (classNames.length < 2) {
    throw new DatasetNotFoundError(`${classRoot} must hold one sub-folder per class (at least 2); found ${classNames.length}`);
  }
  if (classNames.length > 256) throw new DatasetFormatError(classRoot, `${classNames.length} classes; labels are stored as bytes (at most 256)`);
  const base = { name: `image-folder:${root}`, height: o.size, width: o.size, channels: o.channels, numClasses: classNames.length, classNames };
  if (hasSplits) {
    const train = loadSplit(join(root, 'train'), classNames, o);
    const test = loadSplit(join(root, 'test'), classNames, o);
    if (train.count === 0) throw new DatasetNotFoundError(`no images (${[...EXTENSIONS].join(', ')}) under ${classRoot}`);
    return { ...base, train, test };
  }
  const all = loadSplit(root, classNames, o);
  if (all.count === 0) throw new DatasetNotFoundError(`no images (${[...EXTENSIONS].join(', ')}) under ${root}`);
  const { train, validation } = splitIndices(all.count, o.testFraction ?? 0.2, o.seed ?? 0);
  return { ...base, train: selectSamples(base, all, train), test: selectSamples(base, all, validation) };
}
