/**
 * Seeded `Rng` values for strategies. A workflow builds a fresh one per call from (pipeline seed,
 * call number), so no generator state has to live in the strategy's state or in workflow history.
 */
import { mixSeed, mulberry32 } from '../engine/random';
import type { Rng } from './api';

export function seededRng(...seedParts: number[]): Rng {
  const next = mulberry32(mixSeed(...seedParts));
  return { next };
}
