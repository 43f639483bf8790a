/**
 * The plugin contract: what a search strategy or a hardware target must export, typed so that a
 * plugin's `config` parameter and search state are inferred from its own definition.
 *
 * This module is imported by user plugins, possibly from outside this package and through a
 * different copy of this file (a .ts source loaded next to a compiled CLI), so nothing here may
 * depend on module identity: the registry checks plugins by shape, never with `instanceof`.
 */
import { z } from 'zod';

/** Re-exported so a plugin needs one import and its config schema uses the host's zod. */
export { z };

export const PLUGIN_KINDS = ['search-strategy', 'hardware-target'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** Plugin names are what pipelines write, so they follow the same rule as pipeline names. */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

interface PluginBase<C extends z.ZodType> {
  kind: PluginKind;
  /** The name a pipeline uses to pick this plugin; unique per kind. */
  name: string;
  /** Semantic version, shown by `nas plugin list` and recorded with each run. */
  version: string;
  /** One line for `nas plugin list`. */
  description?: string;
  /** Validates the plugin's `config:` block in a pipeline; its defaults fill the resolved pipeline. */
  configSchema: C;
}

/** The search space as a strategy sees it: how many options each decision (mixed op) has. */
export interface SearchSpaceShape {
  readonly options: readonly number[];
}

/** One option index per decision, in the order of `SearchSpaceShape.options`. */
export type Choices = number[];

export interface Candidate {
  /** Sequence number of the proposal, starting at 0; results are matched back by it. */
  trial: number;
  choices: Choices;
}

export interface TrialResult extends Candidate {
  /** Higher is better; the workflow folds accuracy and latency into one number before observing. */
  score: number;
}

/** A uniform source in [0, 1). The workflow derives it from the pipeline seed and the call number. */
export interface Rng {
  next(): number;
}

export interface StrategyContext<C> {
  config: C;
  space: SearchSpaceShape;
}

export interface Proposal<S> {
  state: S;
  /** The next architecture to train, or null when the strategy has nothing to propose now. */
  candidate: Candidate | null;
  /** True once the trial budget is spent: no further proposals will come. */
  done: boolean;
}

/**
 * A strategy that trains separate candidates (random search, evolution). Its functions run inside
 * Temporal workflow code, so they must be pure and deterministic: no clocks, no Math.random (use
 * the `rng` argument), no I/O, no module-level mutable state; `nas plugin check` enforces this.
 * The state must be a small JSON value because it travels in workflow history.
 */
export interface MultiTrialStrategyPlugin<C extends z.ZodType = z.ZodType, S = unknown> extends PluginBase<C> {
  kind: 'search-strategy';
  mode: 'multi-trial';
  init(ctx: StrategyContext<z.output<C>>): S;
  /** Called repeatedly; a candidate of null with done false means "wait for a result first". */
  propose(state: S, rng: Rng, ctx: StrategyContext<z.output<C>>): Proposal<S>;
  observe(state: S, result: TrialResult, ctx: StrategyContext<z.output<C>>): S;
  /** The best observed trial so far, or null before the first result. */
  best(state: S): TrialResult | null;
}

/** Per decision, one logit per option: ProxylessNAS's architecture parameters alpha. */
export type ArchitectureLogits = number[][];

/**
 * A strategy that trains one over-parameterised network and learns architecture logits
 * (ProxylessNAS). Its training loop runs in an activity; the members below are the pure update
 * rules that loop calls. They are optional while the built-ins are declarations: the supernet
 * trainer that calls them is a later issue.
 */
export interface OneShotStrategyPlugin<C extends z.ZodType = z.ZodType> extends PluginBase<C> {
  kind: 'search-strategy';
  mode: 'one-shot';
  /** Initial logits; ProxylessNAS starts them equal so every path is sampled alike. */
  initLogits?(ctx: StrategyContext<z.output<C>>): ArchitectureLogits;
  /** One architecture step from the signal of the sampled gates (gradient or reward). */
  updateLogits?(logits: ArchitectureLogits, signal: ArchitectureSignal, ctx: StrategyContext<z.output<C>>): ArchitectureLogits;
}

export type ArchitectureSignal =
  | { type: 'gradient'; gates: Choices; lossGradient: number[][] }
  | { type: 'reward'; gates: Choices; reward: number };

/** What a latency table is keyed by: one searchable op at one input size. */
export interface OpSignature {
  op: 'mbconv' | 'conv' | 'pool' | 'dense';
  inputSize: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  expansion?: number;
  se?: boolean;
}

export interface LatencyMeasurement {
  /** Median over the repeats, in milliseconds. */
  medianMs: number;
  p90Ms?: number;
  repeats: number;
}

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
export function definePlugin<C extends z.ZodType>(plugin: OneShotStrategyPlugin<C>): OneShotStrategyPlugin<C>;
export function definePlugin<C extends z.ZodType>(plugin: HardwareTargetPlugin<C>): HardwareTargetPlugin<C>;
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}
