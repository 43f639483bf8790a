/**
 * Adapting an ImageNet architecture to small inputs such as 28x28 Fashion-MNIST: a 224 network
 * downsamples 32x, which would leave nothing of a 28x28 image. The stem stops striding and only
 * the first `downsamplings` stride-2 blocks keep their stride (the usual CIFAR-style adaptation),
 * so 28x28 ends at 7x7 with the default of two.
 */
import type { ArchSpec } from './spec';

export interface SmallInputOptions {
  resolution: number;
  inputChannels: number;
  numClasses: number;
  /** Stride-2 blocks to keep, counted from the input side. */
  downsamplings?: number;
  name?: string;
}

export function adaptToSmallInput(arch: ArchSpec, o: SmallInputOptions): ArchSpec {
  let keep = o.downsamplings ?? 2;
  return {
    ...arch,
    name: o.name ?? `${arch.name}-${o.resolution}px`,
    resolution: o.resolution,
    inputChannels: o.inputChannels,
    numClasses: o.numClasses,
    stem: { ...arch.stem, stride: 1 },
    blocks: arch.blocks.map((b) => {
      if (b.stride !== 2) return { ...b };
      const stride: 1 | 2 = keep > 0 ? 2 : 1;
      keep--;
      return { ...b, stride };
    }),
  };
}
