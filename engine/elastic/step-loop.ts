/**
 * The training side of the elastic coordinator: synchronous momentum SGD, one step at a time.
 *
 * Each step takes the members ready for work, hands each a slice of the samples due next together
 * with the current weights, waits for their gradients, averages them (weighted by sample count)
 * and applies one momentum-SGD step at the rate the policy gives for that many workers. The slices
 * of members dropped before answering are handed out again within the same step, to the members
 * still present and with the same weights, so every step applies the whole global batch its rate
 * was chosen for, and no sample is lost or applied twice.
 *
 * Nothing non-finite is ever applied: every contribution's loss, gradient and BatchNorm statistics
 * are checked on arrival, and a NaN or infinite one is refused and fails the run
 * (TrainingDivergedError) naming the worker that sent it and the step, as does a worker's own
 * report that its step diverged and a step whose update made a weight non-finite.
 *
 * Its state (weights, momentum, sample cursor, policy, the epoch's loss) is what a checkpoint holds.
 */
import type { StepLogEntry } from '../../core/artifact-files';
import { loadTf } from '../backend';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from '../train/checkpoint';
import { contributionProblem, describeNonFinite, TrainingDivergedError } from '../train/divergence';
import { EpochCursor, type EpochCursorState } from './epoch-cursor';
import type { FlatWeights, WeightLayout } from './flat-weights';
import { correctsMomentum, globalBatchFor, initialPolicyState, rateForStep, scheduleFactor, type ElasticPolicyConfig, type PolicyState } from './lr-policy';
import { REJOIN, type Contribution, type Member, type Membership } from './membership';
import { MomentumSgd, weightedMean } from './momentum-sgd';
import type { Answer } from './plane';
import type { DivergedReport, GradientHeader } from './protocol';
import { floatBytes } from './wire';

export interface StepLoopConfig extends ElasticPolicyConfig {
  momentum: number;
  minWorkers: number;
  epochs: number;
  seed: number;
  checkpointEverySteps: number;
}

/** One applied step: what the step log (`log/steps-*.json`, core/artifact-files.ts) stores. */
export type { StepLogEntry };

export interface EpochSummary {
  epoch: number;
  samples: number;
  steps: number;
  meanLoss: number;
  /** Sample ids in the order their gradients were applied: each exactly once. */
  appliedOrder: number[];
}

export interface CoordinatorHooks {
  /** Called between steps with the step log since the previous checkpoint; must persist both. */
  onCheckpoint(bytes: Uint8Array, step: number, log: StepLogEntry[]): Promise<void>;
  onStep?(entry: StepLogEntry): void | Promise<void>;
  onEpoch?(summary: EpochSummary): void | Promise<void>;
  /** While fewer than minWorkers are present. */
  onWaiting?(present: number, needed: number): void;
  shouldStop?(): boolean;
}

interface CheckpointMeta {
  kind: 'elastic-coordinator';
  signature: string;
  step: number;
  cursor: Omit<EpochCursorState, 'applied'>;
  policy: PolicyState | null;
  lastRate: number;
  epochLoss: { sum: number; samples: number; steps: number };
}

export class ElasticCheckpointMismatch extends Error {
  constructor(detail: string) {
    super(`checkpoint does not fit this elastic training run: ${detail}`);
    this.name = 'CheckpointMismatchError';
  }
}

const OK: Answer = { status: 200, body: { ok: true } };

export class StepLoop {
  readonly weights: FlatWeights;
  step = 0;
  private cursor: EpochCursor;
  private readonly sgd: MomentumSgd;
  private policy: PolicyState | null = null;
  private epochLoss = { sum: 0, samples: 0, steps: 0 };
  private pendingLog: StepLogEntry[] = [];
  private wakeUp: () => void = () => {};
  /** What ends the run: a non-finite contribution, or a worker's report of one. */
  private fault?: Error;

  constructor(
    private readonly layout: WeightLayout,
    /** layoutSignature(layout): a checkpoint of another model is refused by it. */
    private readonly signature: string,
    initial: FlatWeights,
    private readonly samples: Uint32Array,
    private readonly config: StepLoopConfig,
    private readonly membership: Membership,
  ) {
    this.weights = { trainable: initial.trainable.slice(), nonTrainable: initial.nonTrainable.slice() };
    this.cursor = new EpochCursor(samples, config.seed);
    this.sgd = new MomentumSgd(layout.trainableSize, config.momentum);
  }

  get epoch(): number {
    return this.cursor.epoch;
  }

  /** Samples applied so far over the whole run: the progress measure, since steps per epoch vary. */
  get samplesDone(): number {
    return this.cursor.epoch * this.cursor.size + this.cursor.appliedCount;
  }

  get samplesTotal(): number {
    return this.config.epochs * this.cursor.size;
  }

  get done(): boolean {
    return this.cursor.epoch >= this.config.epochs;
  }

  /** Samples of a dropped member's unanswered slice: due again, first in line. */
  giveBack(ids: number[]): void {
    this.cursor.giveBack(ids);
  }

  // ---- checkpoints ----

  async checkpoint(): Promise<Uint8Array> {
    const tf = loadTf();
    const { applied, ...cursor } = this.cursor.snapshot();
    const tensors = {
      weights: [
        { name: 'trainable', tensor: tf.tensor1d(this.weights.trainable) },
        { name: 'nonTrainable', tensor: tf.tensor1d(this.weights.nonTrainable) },
        { name: 'velocity', tensor: tf.tensor1d(this.sgd.velocity) },
      ],
      cursor: [{ name: 'applied', tensor: tf.tensor1d(Int32Array.from(applied), 'int32') }],
    };
    try {
      const meta: CheckpointMeta = {
        kind: 'elastic-coordinator',
        signature: this.signature,
        step: this.step,
        cursor,
        policy: this.policy,
        lastRate: this.sgd.lastRate,
        epochLoss: this.epochLoss,
      };
      return await encodeCheckpoint({ meta, groups: tensors });
    } finally {
      for (const group of Object.values(tensors)) for (const t of group) t.tensor.dispose();
    }
  }

  /** Throws ElasticCheckpointMismatch when the checkpoint is of another model. */
  restore(bytes: Uint8Array): void {
    const contents = decodeCheckpoint<CheckpointMeta>(bytes);
    try {
      const { meta, groups } = contents;
      if (meta.kind !== 'elastic-coordinator') throw new ElasticCheckpointMismatch(`it is a ${String(meta.kind)} checkpoint`);
      if (meta.signature !== this.signature) throw new ElasticCheckpointMismatch(`its weight layout ${meta.signature} is not this model's ${this.signature}`);
      const byName = new Map(groups.weights.map((g) => [g.name, g.tensor.dataSync() as Float32Array]));
      this.weights.trainable.set(byName.get('trainable')!);
      this.weights.nonTrainable.set(byName.get('nonTrainable')!);
      this.sgd.velocity.set(byName.get('velocity')!);
      this.sgd.lastRate = meta.lastRate;
      const applied = Array.from(groups.cursor[0].tensor.dataSync());
      this.cursor = new EpochCursor(this.samples, this.config.seed, { ...meta.cursor, applied });
      this.step = meta.step;
      this.policy = meta.policy;
      this.epochLoss = meta.epochLoss;
    } finally {
      disposeCheckpoint(contents);
    }
  }

  // ---- contributions and divergence ----

  /** A gradient from a worker: checked before it can take part in any average, since a NaN applied once is in every weight after. */
  contribute(header: GradientHeader, values: Float32Array): Answer {
    const member = this.membership.answering(header.memberId, header.step);
    if (!member) return REJOIN;
    const { trainableSize, nonTrainableSize } = this.layout;
    if (values.length !== trainableSize + nonTrainableSize || header.count !== member.assignment.ids.length) {
      this.membership.drop(member.id, 'sent a malformed gradient');
      return { status: 400, body: { error: `expected ${trainableSize + nonTrainableSize} values for ${member.assignment.ids.length} samples` } };
    }
    const gradient = values.subarray(0, trainableSize);
    const nonTrainable = values.subarray(trainableSize);
    const problem = contributionProblem(header.loss as unknown, gradient, nonTrainable);
    if (problem) {
      const error = divergedAt(header.step, `worker ${member.name} sent ${problem}; the contribution was refused and nothing of it applied`);
      this.fail(error);
      return { status: 422, body: { error: error.message } };
    }
    this.membership.deliver(member, { gradient, nonTrainable, count: header.count, loss: header.loss as number });
    return OK;
  }

  /** A worker found its own step non-finite (it never sends such a gradient): the run fails, naming it. */
  reported(report: DivergedReport): Answer {
    const member = this.membership.member(String(report.memberId));
    if (!member || member.assignment?.step !== report.step) return REJOIN;
    this.fail(divergedAt(report.step, `worker ${member.name} computed ${String(report.detail).slice(0, 500)}`));
    return OK;
  }

  /** Ends the run with `err` at the next point the training loop looks (the first fault wins). */
  private fail(err: Error): void {
    this.fault ??= err;
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.fault) throw this.fault;
  }

  // ---- the training loop ----

  /** Ends the current wait for a change (see `changed`). */
  wake(): void {
    this.wakeUp();
  }

  /**
   * Resolves when something changes (a join, a poll, a gradient, a drop) or after `ms`. A timeout
   * resolves only after the requests already received are handled (setImmediate runs after the
   * poll phase), so that an event loop blocked for a while (a worker computing in this process)
   * does not make the members whose requests wait unread look silent.
   */
  private changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => setImmediate(done), ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** The members waiting for work, once the membership says a step can start (see Membership.readiness). */
  private async barrier(hooks: CoordinatorHooks): Promise<Member[] | undefined> {
    for (;;) {
      this.throwIfFailed();
      if (hooks.shouldStop?.()) return undefined;
      this.membership.dropSilent();
      const readiness = this.membership.readiness();
      if (readiness.ready) return readiness.members;
      if (readiness.present < this.config.minWorkers) hooks.onWaiting?.(readiness.present, this.config.minWorkers);
      await this.changed(readiness.graceLeftMs !== undefined ? Math.min(250, Math.max(10, readiness.graceLeftMs)) : 250);
    }
  }

  private async finishEpoch(hooks: CoordinatorHooks): Promise<void> {
    const appliedOrder = this.cursor.nextEpoch();
    const { sum, samples, steps } = this.epochLoss;
    this.epochLoss = { sum: 0, samples: 0, steps: 0 };
    await hooks.onEpoch?.({ epoch: this.cursor.epoch - 1, samples: appliedOrder.length, steps, meanLoss: samples ? sum / samples : NaN, appliedOrder });
  }

  /**
   * The gradients of one step: `ids` split among `members`, all computed on the current weights.
   * The slices of members dropped before answering go, in further rounds with the same weights, to
   * whoever is present then, so the step covers all of `ids` (the global batch its rate was chosen
   * for) rather than what happened to survive. Empty when nobody delivered anything: the step
   * starts afresh with the membership of the moment. Undefined when asked to stop mid-step; every
   * sample of the step is then due again.
   */
  private async gather(members: Member[], ids: number[], hooks: CoordinatorHooks): Promise<Contribution[] | undefined> {
    const results: Contribution[] = [];
    const weights = floatBytes(this.weights.trainable, this.weights.nonTrainable);
    let round = splitEvenly(ids, members);
    for (;;) {
      for (const [member, slice] of round) {
        this.membership.assign(member, this.step, slice).work(weights, { kind: 'work', step: this.step, epoch: this.cursor.epoch, ids: slice, seed: this.config.seed });
      }
      // Wait for every assigned member to answer or be dropped.
      for (;;) {
        this.throwIfFailed();
        this.membership.dropSilent();
        if (this.membership.unanswered(round.keys()) === 0) break;
        await this.changed(250);
      }
      for (const m of round.keys()) {
        const contribution = this.membership.takeResult(m);
        if (contribution) results.push(contribution);
      }
      const missing = ids.length - results.reduce((n, r) => n + r.ids.length, 0);
      if (missing === 0 || results.length === 0) return results;
      const present = await this.barrier(hooks);
      if (!present) {
        this.cursor.giveBack(results.flatMap((r) => r.ids));
        return undefined;
      }
      // The dropped members' samples were given back first in line, so these are they.
      round = splitEvenly(this.cursor.take(missing), present);
    }
  }

  /**
   * Trains until the last epoch ends or `shouldStop` says so (after a checkpoint either way).
   * Returns whether training finished.
   */
  async run(hooks: CoordinatorHooks): Promise<boolean> {
    let sinceCheckpoint = 0;
    const checkpoint = async () => {
      const log = this.pendingLog;
      this.pendingLog = [];
      await hooks.onCheckpoint(await this.checkpoint(), this.step, log);
      sinceCheckpoint = 0;
    };
    while (!this.done) {
      this.throwIfFailed();
      if (this.cursor.epochComplete) {
        await this.finishEpoch(hooks);
        continue;
      }
      const ready = await this.barrier(hooks);
      if (!ready) break;
      const dropped = this.membership.beginDropLog();
      const workers = ready.length;
      const policy = rateForStep(this.config, this.policy ?? initialPolicyState(this.config, workers), this.step, workers);
      // The policy keeps its own, undecayed rate in its state; the schedule only scales what is applied.
      const rate = policy.rate * scheduleFactor(this.config.schedule ?? 'constant', this.samplesDone / this.samplesTotal);
      const state = policy.state;
      const results = await this.gather(ready, this.cursor.take(globalBatchFor(this.config, workers)), hooks);
      if (!results) break; // stopping: the step's samples went back to the cursor
      if (results.length === 0) continue; // every worker vanished: their samples are due again
      this.throwIfFailed();
      const counts = results.map((r) => r.count);
      const gradient = weightedMean(results.map((r) => r.gradient), counts);
      this.weights.nonTrainable.set(weightedMean(results.map((r) => r.nonTrainable), counts));
      this.sgd.apply(this.weights.trainable, gradient, rate, correctsMomentum(this.config.policy));
      // Every contribution was finite; an update can still overflow. Thrown before any checkpoint of it.
      const overflow = describeNonFinite(this.weights.trainable);
      if (overflow) throw divergedAt(this.step, `applying the update at rate ${rate} made the weights non-finite (${overflow})`);
      this.policy = state;
      const appliedIds = results.flatMap((r) => r.ids);
      this.cursor.commit(appliedIds);
      const samples = appliedIds.length;
      const loss = results.reduce((a, r) => a + r.loss * r.count, 0) / samples;
      this.epochLoss.sum += loss * samples;
      this.epochLoss.samples += samples;
      this.epochLoss.steps++;
      const entry: StepLogEntry = {
        step: this.step,
        epoch: this.cursor.epoch,
        workers: [...new Set(results.map((r) => r.name))],
        dropped,
        globalBatch: samples,
        learningRate: rate,
        loss,
        at: Date.now(),
      };
      this.step++;
      this.pendingLog.push(entry);
      await hooks.onStep?.(entry);
      if (++sinceCheckpoint >= this.config.checkpointEverySteps) await checkpoint();
    }
    if (sinceCheckpoint > 0 || this.pendingLog.length > 0) await checkpoint();
    return this.done;
  }
}

function divergedAt(step: number, what: string): TrainingDivergedError {
  return new TrainingDivergedError(`elastic training diverged at step ${step}: ${what}; lower the learning rate`);
}

/** Contiguous slices of `ids`, as even as possible, to the first members (all of them when there are enough ids). */
export function splitEvenly<M>(ids: number[], members: M[]): Map<M, number[]> {
  const out = new Map<M, number[]>();
  const k = Math.min(members.length, ids.length);
  let at = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(ids.length / k) + (i < ids.length % k ? 1 : 0);
    out.set(members[i], ids.slice(at, at + size));
    at += size;
  }
  return out;
}
