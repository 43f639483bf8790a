/**
 * The network the scaling stage grows, fitted to the data set: the searched architecture as
 * stored, or EfficientNet-B0 (to reproduce the paper) adapted to the data's image size.
 */
import { efficientNet } from '../arch/efficientnet';
import { mobileNetV2 } from '../arch/mobilenet-v2';
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
  return fitToResolution(efficientNet('b0', d.numClasses), d, 'efficientnet-b0');
}

/** MobileNetV2 1.0 for images of `resolution` px, adapted as B0 is. */
export function mobileNetV2For(d: DataShape): ArchSpec {
  return fitToResolution(mobileNetV2(1.0, 224, d.numClasses), d, 'mobilenet-v2');
}

function fitToResolution(arch: ArchSpec, d: DataShape, name: string): ArchSpec {
  if (d.resolution >= 224) return { ...arch, resolution: d.resolution, inputChannels: d.channels };
  const downsamplings = Math.max(0, Math.min(4, Math.floor(Math.log2(d.resolution / 7))));
  return adaptToSmallInput(arch, { resolution: d.resolution, inputChannels: d.channels, numClasses: d.numClasses, downsamplings, name: `${name}-${d.resolution}px` });
}

/**
 * The data decide input channels and classes; a stored baseline keeps its own resolution (the
 * search trained it there) and everything else.
 */
export function fitToData(arch: ArchSpec, d: Omit<DataShape, 'resolution'>): ArchSpec {
  return { ...arch, inputChannels: d.channels, numClasses: d.numClasses };
}
