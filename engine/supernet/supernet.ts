/**
 * ProxylessNAS's over-parameterised network and its alternating training (Cai et al., 2019).
 *
 * - Weight step (train split): alpha frozen; binary gates pick one path per mixed op from
 *   softmax(alpha); only those paths run forward and backward and only their weights (plus stem
 *   and head) are updated. Memory is that of one compact network plus the weights of all paths.
 * - Architecture step (validation split): weights frozen.
 *   `proxyless-gradient`: per op, k (default 2) distinct paths are sampled by p, one of them is
 *   active (drawn from p~, the softmax over the sampled set); out = sum_j g_j o_j with one-hot g,
 *   dL/dg_j = sum(dL/dout * o_j) comes from autodiff with respect to the gates, and
 *   dL/dalpha_i = sum_j dL/dg_j p~_j (delta_ij - p~_i) updates only the sampled logits, which are
 *   then shifted by a common offset so every unsampled path keeps its probability exactly.
 *   With a latency table and weight lambda, lambda * E[LAT] of the sampled set is added, with
 *   its analytic gradient (restricted to the set, as the BinaryConnect term is, so the rescaling
 *   argument still holds).
 *   `proxyless-reinforce`: one architecture is sampled, R = batch accuracy - lambda * its table
 *   latency, and alpha descends -(R - b)(onehot(g) - p) with a moving-average baseline b.
 *   With a latency target T the term is lambda * |LAT / T - 1| in both modes (gradient mode: its
 *   slope at the whole network's E[LAT] times dE/dalpha of the sampled set).
 * - All-paths step (DARTS-style, out = sum_j p_j o_j over every path): only for the memory
 *   comparison in benchmarks/search-memory.ts.
 *
 * Architecture parameters are plain numbers (`number[][]`, one logit vector per decision, the
 * plugin contract's ArchitectureLogits): they never need autodiff (their gradients are the closed
 * forms above) and double precision makes the rescaling exact.
 *
 * Every random draw is a pure function of (seed, step kind, step number), so the RNG "position"
 * is the step counters and a restored checkpoint continues with the same gates.
 *
 * BatchNorm runs in training mode (batch statistics) in every step, as in the paper's code, so
 * architecture steps also move the moving statistics of the paths they run; those are not learned
 * parameters and the derived network is retrained anyway. To score one architecture in inference
 * mode, `recalibrateBatchNorm` first re-estimates its moving statistics (see there).
 */
import type { LayerVariable, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { decisionsOf, type Decision, type SearchSpace } from '../../dsl/search-space';
import type { Activation } from '../arch/spec';
import { loadTf } from '../backend';
import type { BatchNormConfig } from '../blocks/context';
import { mixSeed, mulberry32 } from '../random';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from '../train/checkpoint';
import { binaryConnectGradient, rescaleSubset, reinforceGradient, sampleGates, sampleIndex, sampleWithoutReplacement, softmax, type Logits } from './alpha';
import { archOptimizerStep, DEFAULT_ARCH_OPTIMIZER, initArchOptimizerState, type ArchOptimizerSpec, type ArchOptimizerState } from './arch-optimizer';
import { deriveArchitecture, type DerivedArchitecture } from './derive';
import { checkLatencyTarget, costsOf, expectedLatency, latencyPenalty, opExpectedLatency, sampledLatency, type LatencyTable, type LatencyTarget } from './latency-objective';
import { buildPieces, type MixedOp, type Piece, type SupernetPieces } from './paths';
import { DEFAULT_WEIGHT_OPTIMIZER, KeyedMomentum, type NamedVariable, type WeightOptimizerSpec } from './weight-optimizer';

export type ArchMode = 'proxyless-gradient' | 'proxyless-reinforce';

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
  mode?: ArchMode;
  weightOptimizer?: Partial<WeightOptimizerSpec>;
  archOptimizer?: Partial<ArchOptimizerSpec>;
  /** Paths sampled per mixed op in a gradient architecture step (the paper: 2). */
  sampledPaths?: number;
  /** REINFORCE: b <- decay b + (1 - decay) R. */
  baselineDecay?: number;
  /** REINFORCE: weight of an entropy bonus on p, to delay collapse. */
  entropyWeight?: number;
  /** ms per (decision, option); with latencyWeight > 0 the architecture objective includes latency. */
  latencyTable?: LatencyTable;
  /** lambda: loss + lambda * E[LAT] (gradient mode) or R - lambda * LAT (REINFORCE). */
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
  mode: ArchMode;
  /** Gradient mode: cross-entropy of the gated network, plus the latency term of E[LAT] when latency is on. */
  loss?: number;
  /** REINFORCE: the reward, the baseline before this step and the batch accuracy. */
  reward?: number;
  baseline?: number;
  accuracy?: number;
  /** Gradient mode: the sampled option set per decision; REINFORCE: the one sampled option. */
  sampled: number[][];
  /** The active option per decision (what the forward pass computed). */
  gates: number[];
  /** The full-shape gradient that was applied (zeros outside the sampled sets). */
  alphaGradient: Logits;
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
  format: 'proxyless-supernet/1';
  fingerprint: string;
  alpha: Logits;
  archOptimizer: ArchOptimizerState;
  baseline: number | null;
  /** The gate streams derive from it, so it is part of the RNG position. */
  seed: number;
  weightSteps: number;
  archSteps: number;
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
  readonly mode: ArchMode;
  alpha: Logits;
  baseline: number | null = null;
  weightSteps = 0;
  archSteps = 0;
  private archState: ArchOptimizerState;
  private readonly archSpec: ArchOptimizerSpec;
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
    this.mode = options.mode ?? 'proxyless-gradient';
    this.seed = options.seed ?? 1;
    // Equal logits: every path starts equally likely (the paper's initialisation).
    this.alpha = this.decisions.map((d) => d.options.map(() => 0));
    this.archSpec = { ...DEFAULT_ARCH_OPTIMIZER, ...options.archOptimizer };
    this.archState = initArchOptimizerState(this.alpha);
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

  probabilities(): number[][] {
    return this.alpha.map(softmax);
  }

  setAlpha(alpha: Logits): void {
    if (alpha.length !== this.alpha.length || alpha.some((a, d) => a.length !== this.alpha[d].length)) {
      throw new Error(`alpha must have ${this.alpha.length} rows of sizes [${this.alpha.map((a) => a.length)}]`);
    }
    this.alpha = alpha.map((a) => a.slice());
  }

  /** E[LAT] and its gradient under the current alpha (requires a latency table). */
  expectedLatency(table = this.options.latencyTable): ReturnType<typeof expectedLatency> {
    if (!table) throw new Error('no latency table: pass latencyTable in the supernet options or as the argument');
    return expectedLatency(this.alpha, table, this.decisions);
  }

  derive(): DerivedArchitecture {
    return deriveArchitecture(this.space, this.alpha, {
      numClasses: this.options.numClasses,
      inputChannels: this.options.inputChannels,
      resolution: this.resolution,
      activation: this.options.activation,
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
  recalibrateBatchNorm(inputs: readonly Tensor[], choices: readonly number[] = this.argmaxChoices()): void {
    const tf = loadTf();
    const pieces = [this.pieces.stem, ...choices.map((j, d) => this.pieces.ops[d].paths[j]), this.pieces.head].filter((p): p is Piece => p !== null);
    // tfjs-layers (and engine/blocks/native-ops.ts) read `momentum` on every call: 1 - 1/i for
    // the i-th batch makes the moving average the running mean of the batch statistics.
    const layers = pieces.flatMap((p) => p.model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) as unknown as { momentum: number }[];
    const momenta = layers.map((l) => l.momentum);
    try {
      inputs.forEach((xs, i) => {
        for (const l of layers) l.momentum = 1 - 1 / (i + 1);
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
      const coeffs = Array.isArray(plan.mix) ? plan.mix : tf.unstack(plan.mix);
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
      this.optimizer.apply(
        vars,
        vars.map((v) => grads[v.variable.name]),
        learningRate,
      );
      return value.dataSync()[0];
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

  /** One architecture step on a validation batch, in the supernet's mode. */
  async architectureStep(batch: TrainBatch): Promise<ArchStepReport> {
    const report = this.mode === 'proxyless-gradient' ? this.gradientArchStep(batch) : this.reinforceArchStep(batch);
    this.archSteps++;
    if (this.options.latencyTable) report.expectedLatency = this.expectedLatency().expected;
    return report;
  }

  private latencyWeight(): number {
    return this.options.latencyTable ? this.options.latencyWeight ?? 0 : 0;
  }

  private gradientArchStep(batch: TrainBatch): ArchStepReport {
    const tf = loadTf();
    const rand = this.rng(ARCH_SALT, this.archSteps);
    const k = this.options.sampledPaths ?? 2;
    const sampled = this.alpha.map((a) => sampleWithoutReplacement(softmax(a), k, rand));
    const gates = sampled.map((set, d) => set[sampleIndex(softmax(set.map((i) => this.alpha[d][i])), rand())]);
    // Ops with one option have nothing to learn; they run their only path without a gate.
    const learned = sampled.map((set, d) => (set.length > 1 ? d : -1)).filter((d) => d >= 0);
    const gradient = this.alpha.map((a) => a.map(() => 0));
    const lambda = this.latencyWeight();
    const costs = lambda > 0 ? costsOf(this.alpha, this.options.latencyTable!, this.decisions) : null;
    const penalty = costs ? latencyPenalty(expectedLatency(this.alpha, costs).expected, lambda, this.options.latencyTarget) : null;

    const gateValues = learned.map((d) => sampled[d].map((i) => (i === gates[d] ? 1 : 0)));
    let ce: number;
    if (learned.length === 0) {
      ce = tf.tidy(() => this.crossEntropy(batch.ys, this.forward(batch.xs, gates.map((j) => ({ paths: [j] })))).dataSync()[0]);
    } else {
      const gateTensors = gateValues.map((g) => tf.tensor1d(g));
      const f = (...gs: Tensor[]): Scalar => {
        const plans: OpPlan[] = sampled.map((set, d) => {
          const at = learned.indexOf(d);
          return at < 0 ? { paths: [gates[d]] } : { paths: set, mix: gs[at] };
        });
        return this.crossEntropy(batch.ys, this.forward(batch.xs, plans));
      };
      const { value, grads } = tf.valueAndGrads(f)(gateTensors);
      ce = value.dataSync()[0];
      learned.forEach((d, at) => {
        const dLdg = Array.from(grads[at].dataSync());
        const subsetLogits = sampled[d].map((i) => this.alpha[d][i]);
        const bc = binaryConnectGradient(subsetLogits, dLdg);
        const lat = costs ? opExpectedLatency(subsetLogits, sampled[d].map((i) => costs[d][i])).gradient : null;
        sampled[d].forEach((i, j) => (gradient[d][i] = bc[j] + (lat && penalty ? penalty.slope * lat[j] : 0)));
      });
      tf.dispose([value, ...grads, ...gateTensors]);
    }
    const touched = this.alpha.map((_, d) => (learned.includes(d) ? sampled[d] : []));
    const before = this.alpha;
    const stepped = archOptimizerStep(this.archSpec, this.archState, before, gradient, touched);
    this.alpha = stepped.map((a, d) => (touched[d].length > 0 ? rescaleSubset(before[d], a, touched[d]) : a));
    return { step: this.archSteps, mode: this.mode, loss: ce + (penalty?.value ?? 0), sampled, gates, alphaGradient: gradient };
  }

  private reinforceArchStep(batch: TrainBatch): ArchStepReport {
    const tf = loadTf();
    const gates = sampleGates(this.alpha, this.rng(ARCH_SALT, this.archSteps));
    const accuracy = tf.tidy(() => {
      const logits = this.forward(batch.xs, gates.map((j) => ({ paths: [j] })));
      return tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), tf.argMax(batch.ys, -1)), 'float32')).dataSync()[0];
    });
    const lambda = this.latencyWeight();
    const reward = accuracy - (lambda > 0 ? latencyPenalty(sampledLatency(gates, this.options.latencyTable!, this.decisions), lambda, this.options.latencyTarget).value : 0);
    // The first reward seeds the baseline, so the first step has no advantage rather than a huge one.
    const baseline = this.baseline ?? reward;
    const decay = this.options.baselineDecay ?? 0.99;
    const gradient = reinforceGradient(this.alpha, gates, reward - baseline, this.options.entropyWeight ?? 0);
    const all = this.alpha.map((a) => a.map((_, i) => i));
    this.alpha = archOptimizerStep(this.archSpec, this.archState, this.alpha, gradient, all);
    this.baseline = decay * baseline + (1 - decay) * reward;
    return { step: this.archSteps, mode: this.mode, reward, baseline, accuracy, sampled: gates.map((g) => [g]), gates, alphaGradient: gradient };
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

  /** Weights of all paths, momentum slots, alpha, its optimizer state, baseline and counters. */
  async checkpoint(): Promise<Uint8Array> {
    const meta: SupernetMeta = {
      format: 'proxyless-supernet/1',
      fingerprint: this.fingerprint,
      alpha: this.alpha,
      archOptimizer: this.archState,
      baseline: this.baseline,
      seed: this.seed,
      weightSteps: this.weightSteps,
      archSteps: this.archSteps,
    };
    // read() hands out the live variables; they are encoded, never disposed here.
    const weights = this.allWeights().map((w) => ({ name: w.originalName, tensor: w.read() as Tensor }));
    return encodeCheckpoint<SupernetMeta>({ meta, groups: { weights, slots: this.optimizer.slotEntries() } });
  }

  async restore(bytes: Uint8Array): Promise<void> {
    const contents = decodeCheckpoint<SupernetMeta>(bytes);
    try {
      const { meta, groups } = contents;
      if (meta.format !== 'proxyless-supernet/1') throw new SupernetCheckpointError(`format is ${String(meta.format)}`);
      if (meta.fingerprint !== this.fingerprint) throw new SupernetCheckpointError('it was saved from a different search space or network shape');
      const saved = new Map(groups.weights.map((g) => [g.name, g.tensor]));
      const weights = this.allWeights();
      for (const w of weights) {
        const t = saved.get(w.originalName);
        if (!t) throw new SupernetCheckpointError(`weight ${w.originalName} is missing`);
        if (t.shape.join(',') !== w.shape.join(',')) throw new SupernetCheckpointError(`weight ${w.originalName} has shape [${t.shape}], expected [${w.shape}]`);
      }
      for (const w of weights) w.write(saved.get(w.originalName)!);
      this.optimizer.setSlots(groups.slots ?? []);
      this.alpha = meta.alpha;
      this.archState = meta.archOptimizer;
      this.baseline = meta.baseline;
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
