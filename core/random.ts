/**
 * Seeded randomness. Data order, initialisation and sampling all derive from the pipeline seed, so
 * a resumed run replays exactly the order an uninterrupted one would have seen. Pure functions of
 * their inputs, so they are also safe inside workflow code.
 */
import type { Rng } from './strategy-contract';

/** mulberry32: tiny, fast, and good enough for shuffling and sampling (not for cryptography). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes several integers into one seed, so (seed, epoch) pairs give unrelated streams. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  }
  return h >>> 0;
}

/** A Fisher-Yates permutation of 0..n-1 determined by the seed. */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * A strategy's `Rng`. A workflow builds a fresh one per call from (pipeline seed, call number), so
 * no generator state has to live in the strategy's state or in workflow history.
 */
export function seededRng(...seedParts: number[]): Rng {
  const next = mulberry32(mixSeed(...seedParts));
  return { next };
}
