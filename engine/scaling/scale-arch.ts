/**
 * EfficientNet step 2 (and each grid point of step 1): a baseline ArchSpec scaled in depth, width
 * and resolution. Channels go through roundFilters and repeats through roundRepeats, the only
 * rounding functions of the code base, so B0 scaled here has B1..B7's exact channel and repeat plans.
 */
import { roundFilters, roundRepeats } from '../arch/rounding';
import type { ArchSpec, BlockSpec } from '../arch/spec';

export interface ScalingMultipliers {
  /** Multiplies each stage's block count (rounded up). */
  depth: number;
  /** Multiplies every channel count (rounded to multiples of 8, never 10% below). */
  width: number;
  /** Multiplies the input side (rounded to the nearest integer). */
  resolution: number;
}

export interface Coefficients {
  alpha: number;
  beta: number;
  gamma: number;
}

/** d = alpha^phi, w = beta^phi, r = gamma^phi. */
export function multipliersAt(c: Coefficients, phi: number): ScalingMultipliers {
  return { depth: c.alpha ** phi, width: c.beta ** phi, resolution: c.gamma ** phi };
}

/**
 * The scaled input side: the nearest integer, at least 8 (ArchSpec's floor). Not a multiple of 4
 * or 8 as some ImageNet tables use: at Fashion-MNIST's 28 px that would map gamma 1.05 back to 28
 * and make neighbouring grid points identical. Odd sides are fine: "same" padding with stride 2
 * gives ceil(side / 2). The 1e-9 keeps 28 * 1.25 = 35 from becoming 34.99999 -> 35 vs 36 flips.
 */
export function scaleResolution(resolution: number, multiplier: number): number {
  return Math.max(8, Math.round(resolution * multiplier + 1e-9));
}

/**
 * Stages as the official implementation sees them: one block-args entry each. A searched
 * architecture lists every position as its own entry with repeats 1, so consecutive entries with
 * the same output width whose later members keep stride 1 form one stage; depth scaling then
 * rounds the stage's length (ceil(1.2 * 4) = 5 blocks), not each position's (ceil(1.2 * 1) = 2
 * each, which would double the network). For EfficientNet every entry is its own stage and this
 * is exactly round_repeats per entry.
 */
export function stagesOf(blocks: readonly BlockSpec[]): number[][] {
  const stages: number[][] = [];
  blocks.forEach((b, i) => {
    const current = stages[stages.length - 1];
    const prev = i > 0 ? blocks[i - 1] : undefined;
    if (current && prev && prev.outChannels === b.outChannels && b.stride === 1) current.push(i);
    else stages.push([i]);
  });
  return stages;
}

/**
 * Scales depth (per stage, rounding up; extra blocks copy the stage's last entry, which runs at
 * stride 1 and keeps the width, as the official repeats do), width (stem, every block and the
 * head through roundFilters, as the official round_filters calls do) and resolution.
 */
export function scaleArch(base: ArchSpec, m: ScalingMultipliers, name?: string): ArchSpec {
  const blocks: BlockSpec[] = base.blocks.map((b) => ({ ...b, outChannels: roundFilters(b.outChannels, m.width) }));
  for (const stage of stagesOf(base.blocks)) {
    const length = stage.reduce((s, i) => s + base.blocks[i].repeats, 0);
    const extra = roundRepeats(length, m.depth) - length;
    blocks[stage[stage.length - 1]].repeats += extra;
  }
  return {
    ...base,
    name: name ?? `${base.name}-d${fmt(m.depth)}-w${fmt(m.width)}-r${fmt(m.resolution)}`,
    resolution: scaleResolution(base.resolution, m.resolution),
    stem: { ...base.stem, channels: roundFilters(base.stem.channels, m.width) },
    blocks,
    headChannels: base.headChannels === null ? null : roundFilters(base.headChannels, m.width),
  };
}

/** Compound scaling at phi: the baseline grown by (alpha^phi, beta^phi, gamma^phi). */
export function compoundScale(base: ArchSpec, c: Coefficients, phi: number, name?: string): ArchSpec {
  return scaleArch(base, multipliersAt(c, phi), name ?? `${base.name}-phi${phi}`);
}

function fmt(x: number): string {
  return String(Number(x.toFixed(3)));
}
