/**
 * MobileNetV2 (Sandler et al. 2018) as an architecture description, following the Keras
 * application: inverted residuals with ReLU6, no squeeze-excitation, no stochastic depth, and
 * the first block without an expansion conv (t = 1).
 */
import { makeDivisible } from './rounding';
import type { ArchSpec } from './spec';

/** The paper's table 2: (t, c, n, s). */
const SETTINGS: readonly [number, number, number, 1 | 2][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** MobileNetV2's own width rule: truncate, then `_make_divisible(v, 8)`. */
function width(channels: number, alpha: number): number {
  return makeDivisible(Math.trunc(channels * alpha), 8);
}

export function mobileNetV2(alpha = 1.0, resolution = 224, numClasses = 1000): ArchSpec {
  return {
    name: alpha === 1 ? 'mobilenet-v2' : `mobilenet-v2-${alpha}`,
    resolution,
    inputChannels: 3,
    numClasses,
    activation: 'relu6',
    stem: { channels: makeDivisible(32 * alpha, 8), kernel: 3, stride: 2 },
    blocks: SETTINGS.map(([t, c, n, s]) => ({ expansion: t, kernel: 3, stride: s, outChannels: width(c, alpha), seRatio: 0, repeats: n })),
    // The paper keeps 1280 for alpha <= 1 so small models do not lose their classifier width.
    headChannels: alpha > 1 ? makeDivisible(1280 * alpha, 8) : 1280,
    // Keras has none; torchvision and timm train with 0.2, which is what the benchmarks use.
    dropout: 0.2,
    dropConnect: 0,
    batchNorm: { momentum: 0.999, epsilon: 1e-3 },
  };
}
