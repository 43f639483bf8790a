/**
 * Channel and repeat rounding under width and depth multipliers. EfficientNet's `round_filters`
 * and `round_repeats` (official TF implementation) are the only functions that scale a network;
 * MobileNetV2's `_make_divisible` is the same primitive called with its own truncation.
 */

/**
 * The nearest multiple of `divisor` (at least `minValue`), bumped up one step when rounding
 * down would lose more than 10% of the channels: the official rule that keeps small layers
 * from being starved.
 */
export function makeDivisible(value: number, divisor = 8, minValue = divisor): number {
  const rounded = Math.max(minValue, Math.floor((value + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * value ? rounded + divisor : rounded;
}

/** EfficientNet `round_filters`: width scaling of a channel count (divisor 8, min_depth = divisor). */
export function roundFilters(filters: number, widthMultiplier: number, divisor = 8, minDepth?: number): number {
  if (!widthMultiplier) return filters;
  return makeDivisible(filters * widthMultiplier, divisor, minDepth ?? divisor);
}

/** EfficientNet `round_repeats`: depth scaling always rounds up, so no stage ever loses a block. */
export function roundRepeats(repeats: number, depthMultiplier: number): number {
  if (!depthMultiplier) return repeats;
  return Math.ceil(depthMultiplier * repeats);
}
