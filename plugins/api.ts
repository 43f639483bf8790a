/**
 * The plugin contract: what a search strategy or a hardware target must export, typed so that a
 * plugin's `config` parameter and search state are inferred from its own definition.
 *
 * This module is imported by user plugins, possibly from outside this package and through a
 * different copy of this file (a .ts source loaded next to a compiled CLI), so nothing here may
 * depend on module identity: the registry checks plugins by shape, never with `instanceof`.
 * The strategy half of the contract and the op types live in core/ (workflow and engine code call
 * them and may not import plugins/); they are re-exported here unchanged.
 */
import { z } from 'zod';
import type { LatencyMeasurement, OpSignature } from '../core/ops';
import type { MultiTrialStrategyPlugin, OneShotStrategyPlugin, PluginBase } from '../core/strategy-contract';

/** Re-exported so a plugin needs one import and its config schema uses the host's zod. */
export { z };

export {
  PLUGIN_KINDS,
  type PluginKind,
  type SearchSpaceShape,
  type Choices,
  type Candidate,
  type TrialResult,
  type Rng,
  type StrategyContext,
  type Proposal,
  type MultiTrialStrategyPlugin,
  type ArchitectureLogits,
  type ArchitectureState,
  type GateSample,
  type ArchitectureSignal,
  type OneShotStrategyPlugin,
} from '../core/strategy-contract';
export type { OpSignature, LatencyMeasurement } from '../core/ops';

/** Plugin names are what pipelines write, so they follow the same rule as pipeline names. */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

export interface TargetContext<C> {
  config: C;
  /** Activity heartbeat: long measurements call it so a dead worker is noticed. */
  heartbeat(details?: unknown): void;
  signal?: AbortSignal;
  /** Reads an object of the run's artifact store (e.g. a latency table a `lut` config names by key); absent outside activities. */
  readArtifact?(key: string): Promise<Uint8Array>;
}

/**
 * A device or estimator whose latency the search optimises. Its members run in activities, where
 * clocks, I/O and native code are allowed. Latency tables are built by calling `measureOp` once per
 * distinct op of the search space; evaluation calls `measureModel` on the final models.
 */
export interface HardwareTargetPlugin<C extends z.ZodType = z.ZodType> extends PluginBase<C> {
  kind: 'hardware-target';
  /**
   * True when `measureModel` times real inferences, so a net's latency can differ from the sum of
   * its ops' table entries (per-op overheads, fusion, caches): the search then measures nets drawn
   * from the space and calibrates a predictor (engine/latency/predictor.ts) before trusting the
   * table. Analytic targets (`macs`, `lut`) price a net as exactly that sum and leave it unset.
   */
  timed?: boolean;
  /**
   * Why this machine cannot measure with `config` (no browser where it says), or undefined when it
   * can. Cheap and without side effects: `nas run` asks it of every declared target before a run
   * starts on local workers, so a missing tool refuses the run instead of failing it half-way.
   */
  unavailable?(config: z.output<C>): string | undefined;
  measureOp?(op: OpSignature, ctx: TargetContext<z.output<C>>): Promise<LatencyMeasurement>;
  /** `modelDir` holds a tfjs model (model.json and weights). */
  measureModel?(modelDir: string, inputShape: number[], ctx: TargetContext<z.output<C>>): Promise<LatencyMeasurement>;
}

export type SearchStrategyPlugin = MultiTrialStrategyPlugin<z.ZodType, any> | OneShotStrategyPlugin; // any: the state type is private to each strategy
export type Plugin = SearchStrategyPlugin | HardwareTargetPlugin;

/**
 * Declares a plugin. It returns its argument unchanged; its job is typing: `config` is inferred
 * from `configSchema`, and a strategy's state type from what `init` returns.
 */
export function definePlugin<C extends z.ZodType, S>(plugin: MultiTrialStrategyPlugin<C, S>): MultiTrialStrategyPlugin<C, S>;
export function definePlugin<C extends z.ZodType, S, D>(plugin: OneShotStrategyPlugin<C, S, D>): OneShotStrategyPlugin<C, S, D>;
export function definePlugin<C extends z.ZodType>(plugin: HardwareTargetPlugin<C>): HardwareTargetPlugin<C>;
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}
