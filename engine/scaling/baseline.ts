/**
 * The network the scaling stage grows, fitted to the data set: the searched architecture as
 * stored, or EfficientNet-B0 (to reproduce the paper) adapted to the data's image size.
 */
import { efficientNet } from '../arch/efficientnet';
import { adaptToSmallInput } from '../arch/small-input';
import type { ArchSpec } from '../arch/spec';

export interface DataShape {
  resolution: number;
  channels: number;
  numClasses: number;
}

/**
 * B0 for images of `resolution` px. From 224 px up it is B0 itself; below, the stem stops striding
 * and only enough stride-2 blocks keep their stride to end near 7x7 (28 and 32 px: two; 64: three),
 * the same adaptation the Fashion-MNIST benchmark uses, since 32x downsampling of 28 px leaves nothing.
 */
export function efficientNetB0For(d: DataShape): ArchSpec {
  const b0 = efficientNet('b0', d.numClasses);
  if (d.resolution >= 224) return { ...b0, resolution: d.resolution, inputChannels: d.channels };
  const downsamplings = Math.max(0, Math.min(4, Math.floor(Math.log2(d.resolution / 7))));
  return adaptToSmallInput(b0, { resolution: d.resolution, inputChannels: d.channels, numClasses: d.numClasses, downsamplings, name: `efficientnet-b0-${d.resolution}px` });
}

/**
 * The data decide input channels and classes; a stored baseline keeps its own resolution (the
 * search trained it there) and everything else.
 */
export function fitToData(arch: ArchSpec, d: Omit<DataShape, 'resolution'>): ArchSpec {
  return { ...arch, inputChannels: d.channels, numClasses: d.numClasses };
}
