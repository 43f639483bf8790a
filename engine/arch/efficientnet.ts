/**
 * EfficientNet-B0..B7 as architecture descriptions, following the official TF implementation
 * (tensorflow/tpu models/official/efficientnet): B0's block list scaled by the paper's
 * (width, depth, resolution, dropout) tuple through round_filters / round_repeats only.
 */
import { decodeBlock } from './block-string';
import { roundFilters, roundRepeats } from './rounding';
import type { ArchSpec } from './spec';

/** The B0 baseline, in the official block notation (input channels follow from the chain). */
export const EFFICIENTNET_B0_BLOCKS = [
  'e1_k3_s1_c16_se0.25_r1',
  'e6_k3_s2_c24_se0.25_r2',
  'e6_k5_s2_c40_se0.25_r2',
  'e6_k3_s2_c80_se0.25_r3',
  'e6_k5_s1_c112_se0.25_r3',
  'e6_k5_s2_c192_se0.25_r4',
  'e6_k3_s1_c320_se0.25_r1',
] as const;

export interface CompoundCoefficients {
  width: number;
  depth: number;
  resolution: number;
  dropout: number;
}

/** The paper's Table / the official `efficientnet_params`. */
export const EFFICIENTNET_VARIANTS = {
  b0: { width: 1.0, depth: 1.0, resolution: 224, dropout: 0.2 },
  b1: { width: 1.0, depth: 1.1, resolution: 240, dropout: 0.2 },
  b2: { width: 1.1, depth: 1.2, resolution: 260, dropout: 0.3 },
  b3: { width: 1.2, depth: 1.4, resolution: 300, dropout: 0.3 },
  b4: { width: 1.4, depth: 1.8, resolution: 380, dropout: 0.4 },
  b5: { width: 1.6, depth: 2.2, resolution: 456, dropout: 0.4 },
  b6: { width: 1.8, depth: 2.6, resolution: 528, dropout: 0.5 },
  b7: { width: 2.0, depth: 3.1, resolution: 600, dropout: 0.5 },
} as const satisfies Record<string, CompoundCoefficients>;

export type EfficientNetVariant = keyof typeof EFFICIENTNET_VARIANTS;

/** The official drop_connect_rate, the same for every variant. */
const DROP_CONNECT_RATE = 0.2;

/**
 * Any compound-scaled EfficientNet: the scaling stage passes its own coefficients, the named
 * variants pass the paper's.
 */
export function scaledEfficientNet(c: CompoundCoefficients, name: string, numClasses = 1000): ArchSpec {
  return {
    name,
    resolution: c.resolution,
    inputChannels: 3,
    numClasses,
    activation: 'swish',
    stem: { channels: roundFilters(32, c.width), kernel: 3, stride: 2 },
    blocks: EFFICIENTNET_B0_BLOCKS.map((text) => {
      const b = decodeBlock(text);
      return { ...b, outChannels: roundFilters(b.outChannels, c.width), repeats: roundRepeats(b.repeats, c.depth) };
    }),
    headChannels: roundFilters(1280, c.width),
    dropout: c.dropout,
    dropConnect: DROP_CONNECT_RATE,
    batchNorm: { momentum: 0.99, epsilon: 1e-3 },
  };
}

export function efficientNet(variant: EfficientNetVariant, numClasses = 1000): ArchSpec {
  return scaledEfficientNet(EFFICIENTNET_VARIANTS[variant], `efficientnet-${variant}`, numClasses);
}
