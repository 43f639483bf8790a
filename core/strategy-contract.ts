/**
 * The search-strategy half of the plugin contract: what the multi-trial workflow (propose,
 * observe) and the one-shot supernet (sample, update) call. Workflow code and the tensor engine
 * both stand below plugins/, so the contract lives here; plugins/api.ts, the module plugins
 * import, re-exports it unchanged. As there, nothing may depend on module identity: a user plugin
 * may be checked against another copy of these types.
 */
import type { z } from 'zod';

export const PLUGIN_KINDS = ['search-strategy', 'hardware-target'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** What every plugin declares; hardware targets (plugins/api.ts) extend it too. */
export interface PluginBase<C extends z.ZodType> {
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
  /**
   * The trial's budget in training epochs (multi-fidelity: successive halving, Hyperband); absent:
   * the search's own `epochs`. A strategy promotes an architecture by proposing it again with a
   * larger budget (it trains again from scratch, its learning-rate schedule spanning the whole
   * budget) and stops one by not proposing it again.
   */
  epochs?: number;
}

export interface TrialResult extends Candidate {
  /** Higher is better; the workflow folds accuracy and latency into one number before observing. */
  score: number;
  /** The epochs the trial was trained for: its candidate's budget, else the search's `epochs`. */
  epochs?: number;
}

/** A uniform source in [0, 1). The workflow derives it from the pipeline seed and the call number. */
export interface Rng {
  next(): number;
}

export interface StrategyContext<C> {
  config: C;
  space: SearchSpaceShape;
  /** The search's `epochs`: the budget of a candidate that names none, and the full budget a multi-fidelity strategy scales from. */
  epochs?: number;
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
 * A one-shot strategy's whole per-search state. The supernet reads `logits`: weight steps sample
 * their gates from softmax(logits), latency is expected under it, and the search ends with each
 * decision's argmax. `strategy` is the strategy's own (optimizer moments, a reward baseline, step
 * counters). Both are JSON: the supernet checkpoint stores them and a resumed search continues
 * from them exactly.
 */
export interface ArchitectureState<S = unknown> {
  logits: ArchitectureLogits;
  strategy: S;
}

/**
 * What one architecture step computes: per decision, the paths the supernet runs and the gate of
 * each, out = sum_k gates[d][k] * (path paths[d][k])(x). ProxylessNAS's binary gates are one-hot
 * over the sampled paths, so only the active path's output counts while dL/dg exists for each.
 */
export interface GateSample<D = unknown> {
  /** Distinct option indices per decision; with a `reward` signal, exactly one per decision. */
  paths: number[][];
  /** One gate per path, in the order of `paths`. */
  gates: number[][];
  /** What the supernet measures on this sample and hands to `update`. */
  signal: 'gradient' | 'reward';
  /** Whatever `update` needs to know about the draw (a Gumbel-softmax's soft sample, say); passed back untouched. */
  detail?: D;
}

/** What the supernet measured on a sample, on a validation batch with the weights frozen. */
export type ArchitectureSignal =
  | {
      type: 'gradient';
      /** Cross-entropy of the gated network. */
      loss: number;
      /** dL/dg: per decision, one entry per path of the sample, in its order. */
      gateGradients: number[][];
      /**
       * Present when latency is part of the objective: the latency term's value and its gradient
       * with respect to each option's probability (per decision, per option), taken at E[LAT]
       * under softmax(logits). A strategy carries it through its own dp/dlogits, as it does dL/dg.
       */
      latency?: { value: number; gradient: number[][] };
    }
  | {
      type: 'reward';
      /** Higher is better: `accuracy`, less the latency term of the sampled network where latency is on. */
      reward: number;
      /** Accuracy of the sampled network on the batch. */
      accuracy: number;
    };

/**
 * A strategy that trains one over-parameterised network and learns architecture logits
 * (ProxylessNAS). The supernet trainer runs in an activity and owns the weights; the members below
 * are the architecture update rule it calls at every architecture step: `sample`, then the
 * measurement `sample.signal` asks for, then `update`. They must be pure functions of their
 * arguments (draw randomness only from `rng`, seeded per step from the search seed, and return new
 * values instead of changing the arguments), so a run is reproducible at a fixed seed.
 */
export interface OneShotStrategyPlugin<C extends z.ZodType = z.ZodType, S = unknown, D = unknown> extends PluginBase<C> {
  kind: 'search-strategy';
  mode: 'one-shot';
  /** The state before the first step; ProxylessNAS starts from equal logits so every path is sampled alike. */
  init(ctx: StrategyContext<z.output<C>>): ArchitectureState<S>;
  /** The gates of the next architecture step. */
  sample(state: ArchitectureState<S>, rng: Rng, ctx: StrategyContext<z.output<C>>): GateSample<D>;
  /** The state after the step that measured `signal` on `sample`. */
  update(state: ArchitectureState<S>, sample: GateSample<D>, signal: ArchitectureSignal, ctx: StrategyContext<z.output<C>>): ArchitectureState<S>;
  /** Weight steps between two architecture steps; absent: 1, the paper's strict alternation. */
  weightStepsPerArchStep?(ctx: StrategyContext<z.output<C>>): number;
}
