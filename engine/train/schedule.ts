/**
 * Learning-rate schedules as pure functions of the global step, so a resumed run continues
 * the schedule exactly (no hidden state in the optimizer). Linear warm-up, then constant,
 * cosine decay to a floor, or step decay (EfficientNet's recipe is 0.97 every 2.4 epochs).
 */

export type ScheduleKind = 'constant' | 'cosine' | 'step';

export interface ScheduleSpec {
  kind: ScheduleKind;
  baseRate: number;
  totalSteps: number;
  /** Steps of linear warm-up from base/warmup to base. */
  warmupSteps: number;
  /** Cosine: the rate at the last step. */
  minRate: number;
  /** Step: multiply by `decayFactor` every `decaySteps` steps (may be fractional). */
  decaySteps: number;
  decayFactor: number;
}

export function learningRateAt(s: ScheduleSpec, globalStep: number): number {
  if (globalStep < s.warmupSteps) return (s.baseRate * (globalStep + 1)) / s.warmupSteps;
  switch (s.kind) {
    case 'constant':
      return s.baseRate;
    case 'cosine': {
      const span = Math.max(1, s.totalSteps - s.warmupSteps);
      const progress = Math.min(1, (globalStep - s.warmupSteps) / span);
      return s.minRate + 0.5 * (s.baseRate - s.minRate) * (1 + Math.cos(Math.PI * progress));
    }
    case 'step':
      return s.baseRate * Math.pow(s.decayFactor, Math.floor((globalStep - s.warmupSteps) / Math.max(1e-9, s.decaySteps)));
  }
}
