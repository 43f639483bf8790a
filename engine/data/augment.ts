/**
 * Standard image augmentation, done on the uint8 bytes of one batch: random crop from a
 * zero-padded image (shift by up to `padding` pixels) and horizontal flip. Every draw comes
 * from the seed given per batch, so a resumed run sees the same augmented pixels. Horizontal
 * flips keep Fashion-MNIST and CIFAR-10 classes (a mirrored shoe is still a shoe).
 */
import { mulberry32 } from '../../core/random';

export interface AugmentOptions {
  /** Pixels of zero padding before the random crop; 0 disables cropping. */
  padding: number;
  flip: boolean;
}

/** Augments `count` images of h x w x c in place of `out` (same layout as `src`). */
export function augmentImages(src: Uint8Array, out: Uint8Array, count: number, h: number, w: number, c: number, o: AugmentOptions, seed: number): void {
  const rand = mulberry32(seed);
  const ppi = h * w * c;
  for (let n = 0; n < count; n++) {
    const dy = o.padding > 0 ? Math.floor(rand() * (2 * o.padding + 1)) - o.padding : 0;
    const dx = o.padding > 0 ? Math.floor(rand() * (2 * o.padding + 1)) - o.padding : 0;
    const flip = o.flip && rand() < 0.5;
    const base = n * ppi;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sxBeforeFlip = x + dx;
        const sx = flip ? w - 1 - sxBeforeFlip : sxBeforeFlip;
        const dst = base + (y * w + x) * c;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          out.fill(0, dst, dst + c);
        } else {
          const s = base + (sy * w + sx) * c;
          for (let k = 0; k < c; k++) out[dst + k] = src[s + k];
        }
      }
    }
  }
}
