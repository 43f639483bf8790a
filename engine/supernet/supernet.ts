/**
 * ProxylessNAS's over-parameterised network and its alternating training (Cai et al., 2019).
 *
 * - Weight step (train split): alpha frozen; binary gates pick one path per mixed op from
 *   softmax(alpha); only those paths run forward and backward and only their weights (plus stem
 *   and head) are updated. Memory is that of one compact network plus the weights of all paths.
 * - Architecture step (validation split): weights frozen. The one-shot strategy plugin owns the
 *   update rule (plugins/api.ts, OneShotStrategyPlugin): it samples the gates, per op the paths to
 *   run and a gate for each (out = sum_j g_j o_j), and the supernet measures what it asks for:
 *   - a gradient: dL/dg_j = sum(dL/dout * o_j) by autodiff with respect to the gates, the
 *     BinaryConnect estimate `proxyless-gradient` turns into dL/dalpha over its sampled pair; with
 *     a latency table and weight lambda, also the latency term's value at E[LAT] under
 *     softmax(alpha) and its gradient with respect to each option's probability;
 *   - a reward: R = batch accuracy of the sampled net - the latency term of its table latency,
 *     what `proxyless-reinforce` feeds REINFORCE.
 *   The latency term is lambda * LAT, or lambda * |LAT / T - 1| with a latency target T.
 * - All-paths step (DARTS-style, out = sum_j p_j o_j over every path): only for the memory
 *   comparison in benchmarks/search-memory.ts.
 *
 * Architecture parameters are plain numbers (`number[][]`, one logit vector per decision, the
 * plugin contract's ArchitectureLogits), held in the strategy's state with whatever else it keeps
 * (optimizer moments, a baseline): they never need autodiff (strategies apply closed forms to the
 * measured dL/dg) and double precision keeps the two-path rescaling exact.
 *
 * Every random draw, the strategy's included (its `rng` argument), is a pure function of (seed,
 * step kind, step number), so the RNG "position" is the step counters and a restored checkpoint
 * continues with the same gates.
 *
 * BatchNorm runs in training mode (batch statistics) in every step, as in the paper's code, so
 * architecture steps also move the moving statistics of the paths they run; those are not learned
 * parameters and the derived network is retrained anyway. To score one architecture in inference
 * mode, `recalibrateBatchNorm` first re-estimates its moving statistics (see there).
 */
import type { LayerVariable, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { decisionsOf, spaceShape, type Decision, type SearchSpace } from '../../core/space';
import type { ArchitectureSignal, ArchitectureState, GateSample, OneShotStrategyPlugin, StrategyContext } from '../../core/strategy-contract';
import type { Activation } from '../arch/spec';
import { loadTf } from '../backend';
import type { BatchNormConfig } from '../blocks/context';
import { mixSeed, mulberry32 } from '../../core/random';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from '../train/checkpoint';
import { firstNonFinite, nonFiniteTensors, TrainingDivergedError } from '../train/divergence';
import { argmax, sampleGates, softmax, type Logits } from './alpha';
import { deriveArchitecture, type DerivedArchitecture } from './derive';
import { checkLatencyTarget, latencyPenalty, type LatencyTarget } from '../../core/objectives';
import { costsOf, expectedLatency, sampledLatency, type LatencyTable } from './latency-objective';
import { buildPieces, type MixedOp, type Piece, type SupernetPieces } from './paths';
import { OneShotStrategyError, checkedSample, checkedState, guardedCall } from './strategy-calls';
import { DEFAULT_WEIGHT_OPTIMIZER, KeyedMomentum, type NamedVariable, type WeightOptimizerSpec } from './weight-optimizer';

/** The one-shot strategy plugin whose update rule the architecture steps follow. */
export interface SupernetStrategy {
  plugin: OneShotStrategyPlugin;
  /** Its config as a pipeline writes it; validated here with the plugin's own schema, which fills the defaults. */
  config?: unknown;
}

export interface SupernetOptions {
  space: SearchSpace;
  numClasses: number;
  inputChannels: number;
  /** Input height = width; default space.inputResolution. */
  resolution?: number;
  /** Seeds the initial weights and every gate draw. Default 1. */
  seed?: number;
  activation?: Activation;
  bn?: BatchNormConfig;
  /** Absent: weight steps only (the memory benchmark), from equal logits; architecture steps throw. */
  strategy?: SupernetStrategy;
  weightOptimizer?: Partial<WeightOptimizerSpec>;
  /** ms per (decision, option); with latencyWeight > 0 the architecture objective includes latency. */
  latencyTable?: LatencyTable;
  /** lambda: loss + lambda * E[LAT] (gradient signals) or R - lambda * LAT (rewards). */
  latencyWeight?: number;
  /** With a target, the latency term becomes lambda * |LAT / target - 1| (see LatencyTarget). */
  latencyTarget?: LatencyTarget;
}

export interface TrainBatch {
  xs: Tensor;
  /** One-hot labels. */
  ys: Tensor;
}

export interface WeightStepReport {
  step: number;
  loss: number;
  /** The sampled option per decision. */
  gates: number[];
}

export interface ArchStepReport {
  step: number;
  /** Gradient signals: cross-entropy of the gated network, plus the latency term of E[LAT] when latency is on. */
  loss?: number;
  /** Reward signals: the reward and the batch accuracy of the sampled network. */
  reward?: number;
  accuracy?: number;
  /** The options the step ran per decision (the strategy's sampled set). */
  sampled: number[][];
  /** Per decision, the option with the largest gate (the active one under binary gates). */
  gates: number[];
  /** What the strategy's update received. */
  signal: ArchitectureSignal;
  /** E[LAT] under the updated alpha, when a table is set. */
  expectedLatency?: number;
}

export interface PeakMemory {
  /** Bytes held by tensors before the step (weights, optimizer slots, the batch). */
  residentBytes: number;
  /** Highest total during the step. */
  peakBytes: number;
}

export class SupernetCheckpointError extends Error {
  constructor(detail: string) {
    super(`supernet checkpoint does not fit this supernet: ${detail}`);
    this.name = 'SupernetCheckpointError';
  }
}

interface SupernetMeta {
  format: 'proxyless-supernet/2';
  fingerprint: string;
  /** The strategy whose state `architecture` is; null when the supernet ran weight steps only. */
  strategy: { name: string; version: string } | null;
  architecture: ArchitectureState;
  /** The gate streams derive from it, so it is part of the RNG position. */
  seed: number;
  weightSteps: number;
  archSteps: number;
}

/**
 * Checkpoints written while the supernet kept the built-in strategies' state itself. Those
 * strategies keep these fields (archOptimizer, baseline) by name in their own state, so a format 1
 * checkpoint resumes exactly under either of them.
 */
interface SupernetMetaV1 {
  format: 'proxyless-supernet/1';
  fingerprint: string;
  alpha: Logits;
  archOptimizer: unknown;
  baseline: number | null;
  seed: number;
  weightSteps: number;
  archSteps: number;
}

/** Format 1 predates strategy plugins: only the two built-in ProxylessNAS strategies wrote it. */
const FORMAT_1_STRATEGIES = ['proxyless-gradient', 'proxyless-reinforce'];

function currentMeta(meta: SupernetMeta | SupernetMetaV1): SupernetMeta {
  if (meta.format !== 'proxyless-supernet/1') return meta;
  const { fingerprint, alpha, archOptimizer, baseline, seed, weightSteps, archSteps } = meta;
  return { format: 'proxyless-supernet/2', fingerprint, strategy: null, architecture: { logits: alpha, strategy: { archOptimizer, baseline } }, seed, weightSteps, archSteps };
}

/** How each mixed op runs in one forward pass. */
interface OpPlan {
  /** Options to compute. */
  paths: number[];
  /** Mixing coefficients: a gate tensor (autodiff target), constants, or none (single path). */
  mix?: Tensor | number[];
}

/** Salts that keep the weight-step and architecture-step streams unrelated. */
const WEIGHT_SALT = 0x5e1;
const ARCH_SALT = 0xa7c;

export class Supernet {
  readonly space: SearchSpace;
  readonly decisions: Decision[];
  readonly resolution: number;
  weightSteps = 0;
  archSteps = 0;
  private arch: ArchitectureState;
  private readonly strategy?: { plugin: OneShotStrategyPlugin; ctx: StrategyContext<unknown> };
  private readonly optimizer: KeyedMomentum;
  private readonly pieces: SupernetPieces;
  private seed: number;
  private readonly fingerprint: string;

  constructor(readonly options: SupernetOptions) {
    const resolution = options.resolution ?? options.space.inputResolution;
    if (resolution === undefined) throw new Error('supernet needs a resolution: pass `resolution` or set space.inputResolution');
    this.resolution = resolution;
    this.space = options.space;
    this.decisions = decisionsOf(options.space);
    this.seed = options.seed ?? 1;
    if (options.strategy) {
      const { plugin } = options.strategy;
      const config = plugin.configSchema.safeParse(options.strategy.config ?? {});
      if (!config.success) {
        throw new OneShotStrategyError(plugin, `has an invalid config: ${config.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`);
      }
      const ctx = { config: config.data, space: spaceShape(options.space) };
      this.strategy = { plugin, ctx };
      this.arch = checkedState(plugin, 'init', guardedCall(plugin, 'init', () => plugin.init(ctx)), this.decisions);
    } else {
      // Equal logits, as ProxylessNAS starts: every path equally likely.
      this.arch = { logits: this.decisions.map((d) => d.options.map(() => 0)), strategy: null };
    }
    this.optimizer = new KeyedMomentum({ ...DEFAULT_WEIGHT_OPTIMIZER, ...options.weightOptimizer });
    if (options.latencyTable) costsOf(this.alpha, options.latencyTable, this.decisions);
    if (options.latencyTarget) checkLatencyTarget(options.latencyTarget);
    const net = {
      numClasses: options.numClasses,
      inputChannels: options.inputChannels,
      resolution,
      activation: options.activation ?? 'swish',
      bn: options.bn ?? { momentum: 0.99, epsilon: 1e-3 },
    };
    this.pieces = buildPieces(options.space, this.decisions, net, this.seed);
    this.fingerprint = JSON.stringify({ space: options.space, net });
  }

  get ops(): readonly MixedOp[] {
    return this.pieces.ops;
  }

  /** The strategy's name, or undefined for a supernet that runs weight steps only. */
  get strategyName(): string | undefined {
    return this.strategy?.plugin.name;
  }

  /** The architecture logits (the strategy state's); assigning replaces them and keeps the rest of the state. */
  get alpha(): Logits {
    return this.arch.logits;
  }

  set alpha(alpha: Logits) {
    this.setAlpha(alpha);
  }

  /** The strategy's whole state, logits included: what a checkpoint stores of the search. */
  get architecture(): ArchitectureState {
    return this.arch;
  }

  set architecture(state: ArchitectureState) {
    this.arch = this.strategy ? checkedState(this.strategy.plugin, 'a state set from outside', state, this.decisions) : state;
  }

  /** Weight steps between two architecture steps, as the strategy asks (1 without a strategy or an answer). */
  get weightStepsPerArchStep(): number {
    if (!this.strategy) return 1;
    const { plugin, ctx } = this.strategy;
    const n = plugin.weightStepsPerArchStep ? guardedCall(plugin, 'weightStepsPerArchStep', () => plugin.weightStepsPerArchStep!(ctx)) : 1;
    if (!Number.isInteger(n) || n < 1) throw new OneShotStrategyError(plugin, `weightStepsPerArchStep returned ${String(n)}; it must be a whole number of steps, at least 1`);
    return n;
  }

  probabilities(): number[][] {
    return this.alpha.map(softmax);
  }

  setAlpha(alpha: Logits): void {
    const rows = this.arch.logits;
    if (alpha.length !== rows.length || alpha.some((a, d) => a.length !== rows[d].length)) {
      throw new Error(`alpha must have ${rows.length} rows of sizes [${rows.map((a) => a.length)}]`);
    }
    this.arch = { ...this.arch, logits: alpha.map((a) => a.slice()) };
  }

  /** E[LAT] and its gradient under the current alpha (requires a latency table). */
  expectedLatency(table = this.options.latencyTable): ReturnType<typeof expectedLatency> {
    if (!table) throw new Error('no latency table: pass latencyTable in the supernet options or as the argument');
    return expectedLatency(this.alpha, table, this.decisions);
  }

  /** The mixed ops' latency of one concrete net (an option per decision), zero ops free (requires a latency table). */
  latencyOf(choices: readonly number[], table = this.options.latencyTable): number {
    if (!table) throw new Error('no latency table: pass latencyTable in the supernet options or as the argument');
    return sampledLatency(choices, table, this.decisions);
  }

  /**
   * The search's result. With a latency target the net must meet it, not only E[LAT]: the most
   * likely net whose mixed ops fit in the target less the fixed part (stem, head).
   */
  derive(): DerivedArchitecture {
    const { latencyTable, latencyTarget } = this.options;
    const budget = latencyTable && latencyTarget && this.latencyWeight() > 0 ? { costs: costsOf(this.alpha, latencyTable, this.decisions), ms: latencyTarget.ms - (latencyTarget.fixedMs ?? 0) } : undefined;
    return deriveArchitecture(this.space, this.alpha, {
      numClasses: this.options.numClasses,
      inputChannels: this.options.inputChannels,
      resolution: this.resolution,
      activation: this.options.activation,
      ...(budget ? { budget } : {}),
    });
  }

  /** The trainable variables of stem, head and the given option per decision (zero ops have none). */
  variablesOf(gates: readonly number[]): NamedVariable[] {
    const out = [...this.pieces.stem.trainable];
    gates.forEach((j, d) => {
      const path = this.pieces.ops[d].paths[j];
      if (path) out.push(...path.trainable);
    });
    out.push(...this.pieces.head.trainable);
    return out;
  }

  /** Every weight of the supernet, BatchNorm moving statistics included, by stable name. */
  allWeights(): LayerVariable[] {
    return this.allPieces().flatMap((p) => p.model.weights);
  }

  private allPieces(): Piece[] {
    return [this.pieces.stem, ...this.pieces.ops.flatMap((o) => o.paths.filter((p): p is Piece => p !== null)), this.pieces.head];
  }

  private rng(salt: number, step: number): () => number {
    return mulberry32(mixSeed(this.seed, salt, step));
  }

  /** The gates a weight step numbered `step` samples (pure in seed, step and alpha). */
  weightGates(step = this.weightSteps): number[] {
    return sampleGates(this.alpha, this.rng(WEIGHT_SALT, step));
  }

  /** The most likely option per decision under the current alpha. */
  argmaxChoices(): number[] {
    return this.alpha.map((a) => a.indexOf(Math.max(...a)));
  }

  /**
   * Re-estimates the BatchNorm moving statistics along one architecture (stem, its paths, head)
   * as the plain mean of their batch statistics over `inputs`, as Once-for-All and single-path
   * one-shot NAS do before scoring a subnet. During the search a path's moving statistics average
   * batches that flowed through whichever upstream paths were sampled at the time, and the head's
   * average over every sampled network: in inference mode the argmax network would be normalised
   * by the statistics of no network in particular. Only moving statistics change, and no training
   * step reads them (training normalises with batch statistics), so the search is unaffected;
   * callers that checkpoint should do so before, keeping checkpoints free of evaluation state.
   */
  recalibrateBatchNorm(inputs: readonly Tensor[], choices: readonly number[] = this.argmaxChoices(), firstIndex = 0): void {
    const tf = loadTf();
    const pieces = [this.pieces.stem, ...choices.map((j, d) => this.pieces.ops[d].paths[j]), this.pieces.head].filter((p): p is Piece => p !== null);
    // tfjs-layers (and engine/blocks/native-ops.ts) read `momentum` on every call: 1 - 1/i for
    // the i-th batch makes the moving average the running mean of the batch statistics.
    const layers = pieces.flatMap((p) => p.model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) as unknown as { momentum: number }[];
    const momenta = layers.map((l) => l.momentum);
    try {
      // `firstIndex` continues a recalibration batch by batch: calls with batches 0..k-1 one at a
      // time (firstIndex k) end where one call with all of them would, so a caller may heartbeat between.
      inputs.forEach((xs, i) => {
        for (const l of layers) l.momentum = 1 - 1 / (firstIndex + i + 1);
        tf.tidy(() => {
          this.forward(xs, choices.map((c) => ({ paths: [c] })), true);
        });
      });
    } finally {
      layers.forEach((l, k) => (l.momentum = momenta[k]));
    }
  }

  /**
   * Accuracy of one architecture of the space (default: the current argmax) on a batch, in
   * inference mode, so BatchNorm uses its moving statistics as the derived network would.
   */
  accuracy(batch: TrainBatch, choices: readonly number[] = this.argmaxChoices()): number {
    const tf = loadTf();
    return tf.tidy(() => {
      const logits = this.forward(batch.xs, choices.map((c) => ({ paths: [c] })), false);
      const hits = tf.equal(logits.argMax(-1), batch.ys.argMax(-1)).sum().dataSync()[0];
      return hits / batch.xs.shape[0];
    });
  }

  private forward(xs: Tensor, plans: readonly OpPlan[], training = true): Tensor {
    const tf = loadTf();
    const kwargs = { training };
    let x = this.pieces.stem.model.apply(xs, kwargs) as Tensor;
    plans.forEach((plan, d) => {
      const op = this.pieces.ops[d];
      const run = (j: number): Tensor => {
        const path = op.paths[j];
        return path ? (path.model.apply(x, kwargs) as Tensor) : x;
      };
      if (plan.mix === undefined) {
        x = run(plan.paths[0]);
        return;
      }
      const outs = plan.paths.map(run);
      // tfjs cannot differentiate unstack of a one-element tensor; that [1] tensor broadcasts as its value.
      const coeffs = Array.isArray(plan.mix) ? plan.mix : plan.paths.length === 1 ? [plan.mix] : tf.unstack(plan.mix);
      x = outs.map((o, k) => tf.mul(o, coeffs[k])).reduce((a, b) => tf.add(a, b));
    });
    return this.pieces.head.model.apply(x, kwargs) as Tensor;
  }

  private crossEntropy(ys: Tensor, logits: Tensor): Scalar {
    return loadTf().losses.softmaxCrossEntropy(ys, logits) as Scalar;
  }

  private trainWeights(batch: TrainBatch, plans: OpPlan[], vars: NamedVariable[], learningRate?: number): number {
    const tf = loadTf();
    const { value, grads } = tf.variableGrads(() => this.crossEntropy(batch.ys, this.forward(batch.xs, plans)), vars.map((v) => v.variable));
    try {
      // Checked before the update: a NaN applied once would spread to every path through the shared stem and head.
      const loss = value.dataSync()[0];
      const step = `supernet weight step ${this.weightSteps}`;
      if (!Number.isFinite(loss)) throw new TrainingDivergedError(`${step} diverged: loss is ${loss}; lower the learning rate`);
      const gradients = vars.map((v) => grads[v.variable.name]);
      // The forward pass has also moved the BatchNorm statistics of the paths it ran: checked too, in the same read-back.
      const statistics = this.allPieces().flatMap((p) => p.model.nonTrainableWeights);
      const bad = nonFiniteTensors([...gradients, ...statistics.map((w) => w.read() as Tensor)]);
      const names = (list: string[]) => list.slice(0, 3).join(', ') + (list.length > 3 ? ` and ${list.length - 3} more` : '');
      const badGradients = bad.filter((i) => i < vars.length).map((i) => vars[i].key);
      const badStatistics = bad.filter((i) => i >= vars.length).map((i) => statistics[i - vars.length].originalName);
      if (badGradients.length > 0) throw new TrainingDivergedError(`${step} diverged: the gradient of ${names(badGradients)} is not finite (loss ${loss}); lower the learning rate`);
      if (badStatistics.length > 0) throw new TrainingDivergedError(`${step} diverged: the BatchNorm statistics ${names(badStatistics)} are not finite (loss ${loss}); lower the learning rate`);
      this.optimizer.apply(vars, gradients, learningRate);
      return loss;
    } finally {
      value.dispose();
      tf.dispose(Object.values(grads));
    }
  }

  /** One weight step on a training batch; `learningRate` overrides the optimizer's for this step. */
  async weightStep(batch: TrainBatch, learningRate?: number): Promise<WeightStepReport> {
    const gates = this.weightGates();
    const loss = this.trainWeights(batch, gates.map((j) => ({ paths: [j] })), this.variablesOf(gates), learningRate);
    return { step: this.weightSteps++, loss, gates };
  }

  /** DARTS-style weight step: every path computed, out = sum_j p_j o_j. For memory comparison only. */
  async allPathsWeightStep(batch: TrainBatch, learningRate?: number): Promise<WeightStepReport> {
    const probs = this.probabilities();
    const plans = probs.map((p) => ({ paths: p.map((_, j) => j), mix: p }));
    const all = this.variablesOf([]).concat(this.pieces.ops.flatMap((o) => o.paths.flatMap((p) => (p ? p.trainable : []))));
    const loss = this.trainWeights(batch, plans, all, learningRate);
    return { step: this.weightSteps++, loss, gates: probs.map((p) => p.indexOf(Math.max(...p))) };
  }

  /**
   * One architecture step on a validation batch: the strategy samples gates, the supernet measures
   * the signal they ask for with the weights frozen, and the strategy's update gives the new state.
   */
  async architectureStep(batch: TrainBatch): Promise<ArchStepReport> {
    if (!this.strategy) throw new Error('this supernet has no strategy: pass `strategy` in its options to run architecture steps');
    const { plugin, ctx } = this.strategy;
    const before = this.arch;
    const rng = { next: this.rng(ARCH_SALT, this.archSteps) };
    const sample = checkedSample(plugin, guardedCall(plugin, 'sample', () => plugin.sample(before, rng, ctx)), this.decisions);
    const signal = sample.signal === 'gradient' ? this.gradientSignal(batch, sample) : this.rewardSignal(batch, sample);
    this.arch = checkedState(plugin, 'update', guardedCall(plugin, 'update', () => plugin.update(before, sample, signal, ctx)), this.decisions);
    const report: ArchStepReport = {
      step: this.archSteps++,
      sampled: sample.paths,
      gates: sample.gates.map((g, d) => sample.paths[d][argmax(g)]),
      signal,
      ...(signal.type === 'gradient' ? { loss: signal.loss + (signal.latency?.value ?? 0) } : { reward: signal.reward, accuracy: signal.accuracy }),
    };
    if (this.options.latencyTable) report.expectedLatency = this.expectedLatency().expected;
    return report;
  }

  private latencyWeight(): number {
    return this.options.latencyTable ? this.options.latencyWeight ?? 0 : 0;
  }

  /** dL/dg by autodiff through the gates, and the latency term at E[LAT] with dTerm/dp = slope * F. */
  private gradientSignal(batch: TrainBatch, sample: GateSample): ArchitectureSignal {
    const tf = loadTf();
    const lambda = this.latencyWeight();
    const costs = lambda > 0 ? costsOf(this.alpha, this.options.latencyTable!, this.decisions) : null;
    const penalty = costs ? latencyPenalty(expectedLatency(this.alpha, costs).expected, lambda, this.options.latencyTarget) : null;
    const gateTensors = sample.gates.map((g) => tf.tensor1d(g));
    const f = (...gs: Tensor[]): Scalar => this.crossEntropy(batch.ys, this.forward(batch.xs, sample.paths.map((paths, d) => ({ paths, mix: gs[d] }))));
    const { value, grads } = tf.valueAndGrads(f)(gateTensors);
    try {
      const signal: ArchitectureSignal = { type: 'gradient', loss: value.dataSync()[0], gateGradients: grads.map((g) => Array.from(g.dataSync())) };
      // A NaN handed to the strategy would end up in alpha, and in every architecture derived from it.
      const badGate = signal.gateGradients.findIndex((g) => firstNonFinite(g) >= 0);
      if (!Number.isFinite(signal.loss) || badGate >= 0) {
        const what = !Number.isFinite(signal.loss) ? `loss is ${signal.loss}` : `the gate gradient of decision ${badGate} is not finite (${signal.gateGradients[badGate].join(', ')})`;
        throw new TrainingDivergedError(`supernet architecture step ${this.archSteps} diverged: ${what}; lower the learning rate`);
      }
      if (costs && penalty) signal.latency = { value: penalty.value, gradient: costs.map((row) => row.map((ms) => penalty.slope * ms)) };
      return signal;
    } finally {
      tf.dispose([value, ...grads, ...gateTensors]);
    }
  }

  /** Batch accuracy of the sampled net (one path per op), less the latency term of its table latency. */
  private rewardSignal(batch: TrainBatch, sample: GateSample): ArchitectureSignal {
    const tf = loadTf();
    const chosen = sample.paths.map((p) => p[0]);
    const accuracy = tf.tidy(() => {
      const logits = this.forward(batch.xs, chosen.map((j) => ({ paths: [j] })));
      return tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), tf.argMax(batch.ys, -1)), 'float32')).dataSync()[0];
    });
    const lambda = this.latencyWeight();
    const latency = lambda > 0 ? latencyPenalty(this.latencyOf(chosen), lambda, this.options.latencyTarget).value : 0;
    return { type: 'reward', reward: accuracy - latency, accuracy };
  }

  /**
   * Peak tensor memory of one call of `step` (tfjs's engine counts every tensor's bytes, on any
   * backend): the bytes already resident and the highest total reached while it ran.
   */
  static async peakMemory(step: () => Promise<unknown>): Promise<PeakMemory> {
    const tf = loadTf();
    const residentBytes = tf.memory().numBytes;
    const info = await tf.profile(async () => {
      await step();
    });
    return { residentBytes, peakBytes: Math.max(info.peakBytes, residentBytes) };
  }

  /** Weights of all paths, momentum slots, the strategy's state (alpha, its optimizer, baseline) and counters. */
  async checkpoint(): Promise<Uint8Array> {
    const meta: SupernetMeta = {
      format: 'proxyless-supernet/2',
      fingerprint: this.fingerprint,
      strategy: this.strategy ? { name: this.strategy.plugin.name, version: this.strategy.plugin.version } : null,
      architecture: this.arch,
      seed: this.seed,
      weightSteps: this.weightSteps,
      archSteps: this.archSteps,
    };
    // read() hands out the live variables; they are encoded, never disposed here.
    const weights = this.allWeights().map((w) => ({ name: w.originalName, tensor: w.read() as Tensor }));
    return encodeCheckpoint<SupernetMeta>({ meta, groups: { weights, slots: this.optimizer.slotEntries() } });
  }

  async restore(bytes: Uint8Array): Promise<void> {
    const contents = decodeCheckpoint<SupernetMeta | SupernetMetaV1>(bytes);
    try {
      const { groups } = contents;
      const format = contents.meta.format;
      if (format !== 'proxyless-supernet/1' && format !== 'proxyless-supernet/2') throw new SupernetCheckpointError(`format is ${String(format)}`);
      const meta = currentMeta(contents.meta);
      if (meta.fingerprint !== this.fingerprint) throw new SupernetCheckpointError('it was saved from a different search space or network shape');
      const name = this.strategyName ?? null;
      if (format === 'proxyless-supernet/1' && name !== null && !FORMAT_1_STRATEGIES.includes(name)) {
        throw new SupernetCheckpointError(`it was written before strategy plugins, by ${FORMAT_1_STRATEGIES.join(' or ')}; this search runs "${name}"`);
      }
      if (meta.strategy && meta.strategy.name !== name) {
        throw new SupernetCheckpointError(`it was written by strategy "${meta.strategy.name}"; this search runs ${name === null ? 'none' : `"${name}"`}`);
      }
      let architecture: ArchitectureState;
      try {
        architecture = this.strategy ? checkedState(this.strategy.plugin, 'the checkpoint', meta.architecture, this.decisions) : meta.architecture;
      } catch (err) {
        throw new SupernetCheckpointError(err instanceof Error ? err.message : String(err));
      }
      const saved = new Map(groups.weights.map((g) => [g.name, g.tensor]));
      const weights = this.allWeights();
      for (const w of weights) {
        const t = saved.get(w.originalName);
        if (!t) throw new SupernetCheckpointError(`weight ${w.originalName} is missing`);
        if (t.shape.join(',') !== w.shape.join(',')) throw new SupernetCheckpointError(`weight ${w.originalName} has shape [${t.shape}], expected [${w.shape}]`);
      }
      for (const w of weights) w.write(saved.get(w.originalName)!);
      this.optimizer.setSlots(groups.slots ?? []);
      this.arch = architecture;
      this.seed = meta.seed;
      this.weightSteps = meta.weightSteps;
      this.archSteps = meta.archSteps;
    } finally {
      // Slots now reference the buffers of their tensors; disposing the handles leaves the data alive.
      disposeCheckpoint(contents);
    }
  }

  /** Frees every weight and slot; the supernet is unusable afterwards. */
  dispose(): void {
    this.optimizer.dispose();
    for (const p of this.allPieces()) p.model.dispose();
  }
}
