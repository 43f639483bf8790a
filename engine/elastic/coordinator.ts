/**
 * The coordinating side of elastic data-parallel training: a parameter server over HTTP.
 *
 * Each step it takes the workers present, hands each a slice of the samples due next together with
 * the current weights, waits for their gradients, averages them (weighted by sample count) and
 * applies one synchronous momentum-SGD step at the rate the policy gives for that many workers.
 * A worker that leaves, dies or stays silent past `stepTimeoutMs` is dropped and its samples are
 * handed out again: within the same step, to the workers still present and with the same weights,
 * so every step applies the whole global batch its rate was chosen for, and no sample is lost or
 * applied twice. A worker that joins is served the current weights with its first assignment.
 *
 * A worker that joins and then stays silent holds nobody up for long: a step starts without
 * members that have not asked for work within a grace derived from the step times observed (with
 * a floor), and a newcomer that holds its first assignment past a few times the slowest answer
 * seen is dropped like a dead worker (an established one keeps the whole `stepTimeoutMs`). A
 * newcomer dropped so whose gradient still arrives teaches the coordinator that answers can take
 * that long, so a slow machine is turned away once at most.
 *
 * Nothing non-finite is ever applied: every contribution's loss, gradient and BatchNorm statistics
 * are checked on arrival, and a NaN or infinite one is refused and fails the run
 * (TrainingDivergedError) naming the worker that sent it and the step, as does a worker's own
 * report that its step diverged (/diverged) and a step whose update made a weight non-finite.
 *
 * It knows nothing of Temporal: the activity around it supplies checkpoints, logs and the stop
 * signal, and the benchmark drives it in-process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { loadTf } from '../backend';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from '../train/checkpoint';
import { contributionProblem, describeNonFinite, TrainingDivergedError } from '../train/divergence';
import { EpochCursor, type EpochCursorState } from './epoch-cursor';
import { layoutSignature, type FlatWeights, type WeightLayout } from './flat-weights';
import { correctsMomentum, globalBatchFor, initialPolicyState, rateForStep, scheduleFactor, type ElasticPolicyConfig, type PolicyState } from './lr-policy';
import { MomentumSgd, weightedMean } from './momentum-sgd';
import { WIRE_CONTENT_TYPE, decodeMessage, encodeMessage, floatBytes } from './wire';
import type { DivergedReport, GradientHeader, JoinReply, JoinRequest, NextReply, WorkHeader } from './protocol';

export interface CoordinatorConfig extends ElasticPolicyConfig {
  momentum: number;
  minWorkers: number;
  epochs: number;
  seed: number;
  checkpointEverySteps: number;
  /** A worker that has not answered for this long is dropped and its samples handed out again. */
  stepTimeoutMs: number;
  /**
   * Shared secret every request must carry: the plane accepts gradients from the run's own workers
   * only. Derived from this installation's key and the training's salt (auth.ts), never stored.
   */
  token: string;
  /** How long a waiting worker's long poll is held before it is told to ask again. */
  pollHoldMs?: number;
  /** Floor of how long a step waits for a present member to ask for work. Default 2000 ms. */
  idleGraceFloorMs?: number;
  /** Floor of how long a newcomer may hold its first assignment. Default 5000 ms. */
  newcomerDeadlineFloorMs?: number;
}

/** A JSON request (join, next, leave, diverged) is a few hundred bytes: this bounds it. */
export const JSON_BODY_LIMIT = 16 * 1024;
/** Room in a /gradient body for its length prefix, JSON header and padding, besides the floats. */
export const GRADIENT_HEADER_ROOM = 16 * 1024;
/** Answer times (work sent to gradient received) remembered for the grace and deadlines. */
const ANSWERS_KEPT = 32;
/** Newcomers dropped for holding work too long, remembered so that their late answer still counts as an observation. */
const LATE_KEPT = 64;

export interface StepLogEntry {
  step: number;
  epoch: number;
  /** Workers whose gradients this step applied. */
  workers: string[];
  /** Workers dropped during this step (timed out, died or left). */
  dropped: string[];
  globalBatch: number;
  learningRate: number;
  loss: number;
  /** When the step was applied, ms since the epoch. */
  at: number;
}

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

/** One worker's gradient for a slice of the step's global batch. */
interface Contribution {
  name: string;
  ids: number[];
  gradient: Float32Array;
  nonTrainable: Float32Array;
  count: number;
  loss: number;
}

interface Member {
  id: string;
  name: string;
  joinedAt: number;
  /** waiting: a /next poll is held open; working: it holds an assignment; idle: between the two. */
  state: 'waiting' | 'working' | 'idle';
  poll?: ServerResponse;
  assignment?: { step: number; ids: number[] };
  result?: { gradient: Float32Array; nonTrainable: Float32Array; count: number; loss: number };
  /** When this member last spoke; idle or working members silent past the timeout are dropped. */
  lastHeard: number;
  /** When its current assignment was sent. */
  sentAt?: number;
  /** Whether it ever delivered a gradient: until then it is a newcomer, on a shorter deadline. */
  delivered: boolean;
}

export class ElasticCoordinator {
  readonly weights: FlatWeights;
  step = 0;
  private cursor: EpochCursor;
  private readonly sgd: MomentumSgd;
  private policy: PolicyState | null = null;
  private epochLoss = { sum: 0, samples: 0, steps: 0 };
  private readonly members = new Map<string, Member>();
  private readonly signature: string;
  private server?: Server;
  private finished = false;
  private wake: () => void = () => {};
  private pendingLog: StepLogEntry[] = [];
  private droppedThisStep: string[] = [];
  /** What ends the run: a non-finite contribution, or a worker's report of one. */
  private fault?: Error;
  /** Recent answer times in ms, oldest first. */
  private readonly answers: number[] = [];
  /** memberId -> when its assignment was sent, for newcomers dropped while holding one. */
  private readonly late = new Map<string, number>();
  /** Largest /gradient body: the model's floats plus a header. */
  private readonly gradientLimit: number;

  constructor(
    readonly layout: WeightLayout,
    initial: FlatWeights,
    private readonly samples: Uint32Array,
    readonly config: CoordinatorConfig,
  ) {
    this.weights = { trainable: initial.trainable.slice(), nonTrainable: initial.nonTrainable.slice() };
    this.cursor = new EpochCursor(samples, config.seed);
    this.sgd = new MomentumSgd(layout.trainableSize, config.momentum);
    this.signature = layoutSignature(layout);
    this.gradientLimit = 4 * (layout.trainableSize + layout.nonTrainableSize) + GRADIENT_HEADER_ROOM;
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

  presentWorkers(): string[] {
    return [...this.members.values()].map((m) => m.name);
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

  /** Throws CheckpointMismatchError-like errors (by message) when the checkpoint is of another model. */
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

  // ---- the data plane ----

  async listen(host: string, port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => reply(res, 500, { error: (err as Error).message }));
    });
    // Long polls and big bodies: the defaults (5 s keep-alive, 300 s request) would cut them short.
    server.keepAliveTimeout = 60_000;
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shown}:${address.port}`;
  }

  /**
   * Ends every poll with "done", then stops listening. Workers between two requests still get
   * their "done" during a short grace period instead of a refused connection.
   */
  async close(graceMs = 1000): Promise<void> {
    this.finished = true;
    for (const m of this.members.values()) if (m.poll) reply(m.poll, 200, { kind: 'done' } satisfies NextReply);
    const server = this.server;
    if (!server) return;
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private authorised(req: IncomingMessage): boolean {
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    const wanted = Buffer.from(`Bearer ${this.config.token}`);
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Refusals before the body is read close the connection: nothing more of it is read.
    if (req.method !== 'POST') return refuse(res, 405, { error: 'POST only' });
    if (!this.authorised(req)) return refuse(res, 401, { error: 'missing or wrong run token' });
    const endpoints = ['/join', '/next', '/gradient', '/leave', '/diverged'];
    if (!endpoints.includes(req.url ?? '')) return refuse(res, 404, { error: `no such endpoint ${req.url}` });
    let body: Buffer;
    try {
      body = await readBody(req, req.url === '/gradient' ? this.gradientLimit : JSON_BODY_LIMIT);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return refuse(res, 413, { error: err.message });
      throw err;
    }
    if (req.url === '/gradient') return this.gradient(body, res);
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(res, 400, { error: `${req.url} takes a JSON body` });
    }
    switch (req.url) {
      case '/join':
        return this.join(request as JoinRequest, res);
      case '/next':
        return this.next(request as { memberId: string }, res);
      case '/diverged':
        return this.diverged(request as DivergedReport, res);
      default:
        this.drop((request as { memberId: string }).memberId, 'left');
        return reply(res, 200, { ok: true });
    }
  }

  private join(request: JoinRequest, res: ServerResponse): void {
    if (this.finished) return reply(res, 200, { kind: 'done' } satisfies JoinReply);
    if (request.signature !== this.signature) {
      return reply(res, 409, { error: `worker ${request.name} built a model with weight layout ${request.signature}, the run trains ${this.signature}` });
    }
    const id = randomUUID();
    // The name goes into logs and failure messages: a string, and short.
    const name = String(request.name).slice(0, 200);
    this.members.set(id, { id, name, joinedAt: Date.now(), state: 'idle', lastHeard: Date.now(), delivered: false });
    reply(res, 200, { kind: 'joined', memberId: id } satisfies JoinReply);
    this.wake();
  }

  private next(request: { memberId: string }, res: ServerResponse): void {
    if (this.finished) return reply(res, 200, { kind: 'done' } satisfies NextReply);
    const member = this.members.get(request.memberId);
    if (!member) return reply(res, 410, { kind: 'rejoin' } satisfies NextReply);
    if (member.state === 'working' && !member.result) {
      // It asks for work while holding some: its assignment is lost, so start it afresh.
      this.drop(member.id, 'abandoned its assignment');
      return reply(res, 410, { kind: 'rejoin' } satisfies NextReply);
    }
    if (member.poll) reply(member.poll, 200, { kind: 'wait' } satisfies NextReply);
    member.state = 'waiting';
    member.poll = res;
    member.lastHeard = Date.now();
    const hold = setTimeout(() => {
      if (member.poll === res) {
        member.poll = undefined;
        member.state = 'idle';
        member.lastHeard = Date.now();
        reply(res, 200, { kind: 'wait' } satisfies NextReply);
      }
    }, this.config.pollHoldMs ?? 10_000);
    // A poll whose connection closes before it is answered: the worker is gone.
    res.on('close', () => {
      clearTimeout(hold);
      if (member.poll === res && !res.writableFinished) this.drop(member.id, 'connection closed');
    });
    this.wake();
  }

  private gradient(body: Buffer, res: ServerResponse): void {
    let message: { header: GradientHeader; values: Float32Array };
    try {
      message = decodeMessage<GradientHeader>(body);
    } catch (err) {
      return reply(res, 400, { error: (err as Error).message });
    }
    const { header, values } = message;
    const member = this.members.get(header.memberId);
    if (!member || member.state !== 'working' || member.assignment?.step !== header.step) {
      const sentAt = this.late.get(header.memberId);
      if (sentAt !== undefined) {
        // A newcomer dropped for lateness whose answer came after all: answers can take this long.
        this.late.delete(header.memberId);
        this.observeAnswer(Date.now() - sentAt);
      }
      return reply(res, 410, { kind: 'rejoin' } satisfies NextReply);
    }
    const { trainableSize, nonTrainableSize } = this.layout;
    if (values.length !== trainableSize + nonTrainableSize || header.count !== member.assignment.ids.length) {
      this.drop(member.id, 'sent a malformed gradient');
      return reply(res, 400, { error: `expected ${trainableSize + nonTrainableSize} values for ${member.assignment.ids.length} samples` });
    }
    // Checked before it can take part in any average: a NaN applied once is in every weight after.
    const gradient = values.subarray(0, trainableSize);
    const nonTrainable = values.subarray(trainableSize);
    const problem = contributionProblem(header.loss as unknown, gradient, nonTrainable);
    if (problem) {
      const error = this.divergedAt(header.step, `worker ${member.name} sent ${problem}; the contribution was refused and nothing of it applied`);
      reply(res, 422, { error: error.message });
      return this.fail(error);
    }
    member.result = { gradient, nonTrainable, count: header.count, loss: header.loss as number };
    member.state = 'idle';
    member.delivered = true;
    member.lastHeard = Date.now();
    if (member.sentAt !== undefined) this.observeAnswer(member.lastHeard - member.sentAt);
    reply(res, 200, { ok: true });
    this.wake();
  }

  /** A worker found its own step non-finite (it never sends such a gradient): the run fails, naming it. */
  private diverged(report: DivergedReport, res: ServerResponse): void {
    const member = this.members.get(String(report.memberId));
    if (!member || member.assignment?.step !== report.step) return reply(res, 410, { kind: 'rejoin' } satisfies NextReply);
    const error = this.divergedAt(report.step, `worker ${member.name} computed ${String(report.detail).slice(0, 500)}`);
    reply(res, 200, { ok: true });
    this.fail(error);
  }

  private divergedAt(step: number, what: string): TrainingDivergedError {
    return new TrainingDivergedError(`elastic training diverged at step ${step}: ${what}; lower the learning rate`);
  }

  /** Ends the run with `err` at the next point the training loop looks (the first fault wins). */
  private fail(err: Error): void {
    this.fault ??= err;
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.fault) throw this.fault;
  }

  private observeAnswer(ms: number): void {
    this.answers.push(ms);
    if (this.answers.length > ANSWERS_KEPT) this.answers.shift();
  }

  /** The slowest answer among the recent ones, or undefined before the first. */
  private slowestAnswer(): number | undefined {
    return this.answers.length ? Math.max(...this.answers) : undefined;
  }

  /**
   * How long a step waits for a present member that has not asked for work: twice the slowest
   * recent answer (a worker in the coordinator's own process blocks its event loop while it
   * computes, so a remote worker's request can sit unread that long), at least the floor, at most
   * the step timeout. A member past it is left out of this step, not dropped: it takes part in the
   * next one it asks for work in time for.
   */
  idleGraceMs(): number {
    const floor = this.config.idleGraceFloorMs ?? 2000;
    return Math.min(this.config.stepTimeoutMs, Math.max(floor, 2 * (this.slowestAnswer() ?? 0)));
  }

  /**
   * How long a newcomer may hold its first assignment before it is dropped and its slice handed
   * on: four times the slowest recent answer, at least the floor, at most the step timeout (the
   * whole timeout before any answer was seen).
   */
  newcomerDeadlineMs(): number {
    const slowest = this.slowestAnswer();
    if (slowest === undefined) return this.config.stepTimeoutMs;
    return Math.min(this.config.stepTimeoutMs, Math.max(this.config.newcomerDeadlineFloorMs ?? 5000, 4 * slowest));
  }

  /** Forgets a member; samples it held go back to the cursor. */
  private drop(memberId: string, why: string): void {
    const member = this.members.get(memberId);
    if (!member) return;
    this.members.delete(memberId);
    if (member.assignment && !member.result) this.cursor.giveBack(member.assignment.ids);
    if (member.poll && !member.poll.writableEnded) reply(member.poll, 410, { kind: 'rejoin' } satisfies NextReply);
    this.droppedThisStep.push(`${member.name} (${why})`);
    this.wake();
  }

  // ---- the training loop ----

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
      this.wake = done;
    });
  }

  /**
   * Drops members that have been idle or working past the timeout, and newcomers that have held
   * their first assignment past the newcomer deadline.
   */
  private dropSilent(): void {
    const now = Date.now();
    const newcomerDeadline = this.newcomerDeadlineMs();
    for (const m of [...this.members.values()]) {
      if (m.state === 'waiting') continue;
      const deadline = m.state === 'working' && !m.delivered ? newcomerDeadline : this.config.stepTimeoutMs;
      if (now - m.lastHeard <= deadline) continue;
      if (m.state === 'working' && !m.delivered && m.sentAt !== undefined) {
        this.late.set(m.id, m.sentAt);
        if (this.late.size > LATE_KEPT) this.late.delete(this.late.keys().next().value!);
      }
      this.drop(m.id, `silent for ${Math.round((now - m.lastHeard) / 1000)} s`);
    }
  }

  /**
   * The members waiting for work, once at least minWorkers are and every other present member has
   * been silent past the idle grace (one that just answered asks again within milliseconds; one
   * that joined and never asks is left out after the grace instead of stalling the step).
   */
  private async barrier(hooks: CoordinatorHooks): Promise<Member[] | undefined> {
    for (;;) {
      this.throwIfFailed();
      if (hooks.shouldStop?.()) return undefined;
      this.dropSilent();
      const present = [...this.members.values()];
      const waiting = present.filter((m) => m.state === 'waiting');
      const now = Date.now();
      const grace = this.idleGraceMs();
      const expected = present.filter((m) => m.state !== 'waiting' && now - m.lastHeard <= grace);
      if (waiting.length >= this.config.minWorkers && expected.length === 0) {
        return waiting.sort((a, b) => a.joinedAt - b.joinedAt || a.id.localeCompare(b.id));
      }
      if (present.length < this.config.minWorkers) hooks.onWaiting?.(present.length, this.config.minWorkers);
      await this.changed(expected.length > 0 ? Math.min(250, Math.max(10, grace - Math.min(...expected.map((m) => now - m.lastHeard)))) : 250);
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
        member.assignment = { step: this.step, ids: slice };
        member.result = undefined;
        member.state = 'working';
        member.lastHeard = Date.now();
        member.sentAt = member.lastHeard;
        const poll = member.poll!;
        member.poll = undefined;
        sendWork(poll, weights, { kind: 'work', step: this.step, epoch: this.cursor.epoch, ids: slice, seed: this.config.seed });
      }
      // Wait for every assigned member to answer or be dropped.
      for (;;) {
        this.throwIfFailed();
        this.dropSilent();
        const outstanding = [...round.keys()].filter((m) => this.members.has(m.id) && !m.result);
        if (outstanding.length === 0) break;
        await this.changed(250);
      }
      // A gradient that arrived counts even if its worker was dropped since (say, died while
      // waiting for the next round): its samples were not given back.
      for (const m of round.keys()) {
        if (!m.result) continue;
        results.push({ name: m.name, ids: m.assignment!.ids, ...m.result });
        m.result = undefined;
        m.assignment = undefined;
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
      this.droppedThisStep = [];
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
      if (overflow) throw this.divergedAt(this.step, `applying the update at rate ${rate} made the weights non-finite (${overflow})`);
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
        dropped: this.droppedThisStep,
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

export class ElasticCheckpointMismatch extends Error {
  constructor(detail: string) {
    super(`checkpoint does not fit this elastic training run: ${detail}`);
    this.name = 'CheckpointMismatchError';
  }
}

/** Contiguous slices of `ids`, as even as possible, to the first members (all of them when there are enough ids). */
function splitEvenly<M>(ids: number[], members: M[]): Map<M, number[]> {
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

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answers a request whose body is not (or no longer) read, and closes its connection: what the
 * client still sends is discarded for a moment (so that it can read the answer), then the
 * connection is cut. Node would otherwise read the rest of the body to keep the connection alive.
 */
function refuse(res: ServerResponse, status: number, body: object): void {
  reply(res, status, body, { connection: 'close' });
  const socket = res.req.socket;
  res.once('finish', () => setTimeout(() => socket.destroy(), 500).unref());
}

/** The weights are encoded once per step; only the header (each member's own ids) differs. */
function sendWork(res: ServerResponse, weights: Buffer, header: WorkHeader): void {
  if (res.writableEnded) return;
  const body = Buffer.concat([encodeMessage(header), weights]);
  res.writeHead(200, { 'content-type': WIRE_CONTENT_TYPE, 'content-length': body.length });
  res.end(body);
}

export class BodyTooLargeError extends Error {
  constructor(limit: number, declared?: number) {
    super(`request body ${declared === undefined ? 'runs past' : `of ${declared} bytes is over`} this endpoint's limit of ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * The request's body, at most `limit` bytes: a larger declared length is refused before reading
 * anything, a body that passes the limit while streaming as soon as it does (what follows is
 * discarded, never kept).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > limit) return Promise.reject(new BodyTooLargeError(limit, declared));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      ended = true;
      if (!over) resolve(Buffer.concat(chunks, size));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!ended) reject(new Error('the request was cut off before its body ended'));
    });
  });
}
