/**
 * What a plugin imports: `definePlugin`, the contract types, `z` for its config schema, a seeded
 * `Rng` and a simulator for tests. Kept free of Node APIs so strategy code that imports it can be
 * bundled into Temporal workflows.
 */
export * from './api';
export { seededRng } from '../core/random';
export { simulateStrategy, type SimulationResult } from './simulate';
