/**
 * A tiny 8x8 data set a net learns in a few steps: each image is bright in the quadrant its label
 * names (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right). The test split is the training split.
 */
import type { ImageDataset } from '../../engine/data/dataset';
import { mulberry32 } from '../../core/random';

export function quadrants(count: number): ImageDataset {
  const rand = mulberry32(5);
  const images = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 4;
    for (let p = 0; p < 64; p++) {
      const q = (p < 32 ? 0 : 2) + (p % 8 < 4 ? 0 : 1);
      images[i * 64 + p] = Math.floor((q === labels[i] ? 160 : 40) + rand() * 60);
    }
  }
  const split = { images, labels, count };
  return { name: 'quadrants', height: 8, width: 8, channels: 1, numClasses: 4, classNames: ['a', 'b', 'c', 'd'], train: split, test: split };
}
