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
 * It knows nothing of Temporal: the activity around it supplies checkpoints, logs and the stop
 * signal, and the benchmark drives it in-process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { loadTf } from '../backend';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from '../train/checkpoint';
import { EpochCursor, type EpochCursorState } from './epoch-cursor';
import { layoutSignature, type FlatWeights, type WeightLayout } from './flat-weights';
import { correctsMomentum, globalBatchFor, initialPolicyState, rateForStep, scheduleFactor, type ElasticPolicyConfig, type PolicyState } from './lr-policy';
import { MomentumSgd, weightedMean } from './momentum-sgd';
import { WIRE_CONTENT_TYPE, decodeMessage, encodeMessage, floatBytes } from './wire';
import type { GradientHeader, JoinReply, JoinRequest, NextReply, WorkHeader } from './protocol';

export interface CoordinatorConfig extends ElasticPolicyConfig {
  momentum: number;
  minWorkers: number;
  epochs: number;
  seed: number;
  checkpointEverySteps: number;
  /** A worker that has not answered for this long is dropped and its samples handed out again. */
  stepTimeoutMs: number;
  /** Shared secret every request must carry: the plane accepts gradients from the run's own workers only. */
  token: string;
  /** How long a waiting worker's long poll is held before it is told to ask again. */
  pollHoldMs?: number;
}

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
    if (req.method !== 'POST') return reply(res, 405, { error: 'POST only' });
    if (!this.authorised(req)) return reply(res, 401, { error: 'missing or wrong run token' });
    const body = await readBody(req);
    switch (req.url) {
      case '/join':
        return this.join(JSON.parse(body.toString('utf8')) as JoinRequest, res);
      case '/next':
        return this.next(JSON.parse(body.toString('utf8')) as { memberId: string }, res);
      case '/gradient':
        return this.gradient(body, res);
      case '/leave':
        this.drop((JSON.parse(body.toString('utf8')) as { memberId: string }).memberId, 'left');
        return reply(res, 200, { ok: true });
      default:
        return reply(res, 404, { error: `no such endpoint ${req.url}` });
    }
  }

  private join(request: JoinRequest, res: ServerResponse): void {
    if (this.finished) return reply(res, 200, { kind: 'done' } satisfies JoinReply);
    if (request.signature !== this.signature) {
      return reply(res, 409, { error: `worker ${request.name} built a model with weight layout ${request.signature}, the run trains ${this.signature}` });
    }
    const id = randomUUID();
    this.members.set(id, { id, name: request.name, joinedAt: Date.now(), state: 'idle', lastHeard: Date.now() });
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
    const { header, values } = decodeMessage<GradientHeader>(body);
    const member = this.members.get(header.memberId);
    if (!member || member.state !== 'working' || member.assignment?.step !== header.step) {
      return reply(res, 410, { kind: 'rejoin' } satisfies NextReply);
    }
    const { trainableSize, nonTrainableSize } = this.layout;
    if (values.length !== trainableSize + nonTrainableSize || header.count !== member.assignment.ids.length) {
      this.drop(member.id, 'sent a malformed gradient');
      return reply(res, 400, { error: `expected ${trainableSize + nonTrainableSize} values for ${member.assignment.ids.length} samples` });
    }
    member.result = {
      gradient: values.subarray(0, trainableSize),
      nonTrainable: values.subarray(trainableSize),
      count: header.count,
      loss: header.loss,
    };
    member.state = 'idle';
    member.lastHeard = Date.now();
    reply(res, 200, { ok: true });
    this.wake();
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

  /** Resolves when something changes (a join, a poll, a gradient, a drop) or after `ms`. */
  private changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** Drops members that have been idle or working past the timeout. */
  private dropSilent(): void {
    const now = Date.now();
    for (const m of [...this.members.values()]) {
      if (m.state !== 'waiting' && now - m.lastHeard > this.config.stepTimeoutMs) this.drop(m.id, `silent for ${Math.round((now - m.lastHeard) / 1000)} s`);
    }
  }

  /** Every present member waiting for work, and at least minWorkers of them. */
  private async barrier(hooks: CoordinatorHooks): Promise<Member[] | undefined> {
    for (;;) {
      if (hooks.shouldStop?.()) return undefined;
      this.dropSilent();
      const present = [...this.members.values()];
      if (present.length >= this.config.minWorkers && present.every((m) => m.state === 'waiting')) {
        return present.sort((a, b) => a.joinedAt - b.joinedAt || a.id.localeCompare(b.id));
      }
      if (present.length < this.config.minWorkers) hooks.onWaiting?.(present.length, this.config.minWorkers);
      await this.changed(250);
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
        const poll = member.poll!;
        member.poll = undefined;
        sendWork(poll, weights, { kind: 'work', step: this.step, epoch: this.cursor.epoch, ids: slice, seed: this.config.seed });
      }
      // Wait for every assigned member to answer or be dropped.
      for (;;) {
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
      const counts = results.map((r) => r.count);
      const gradient = weightedMean(results.map((r) => r.gradient), counts);
      this.weights.nonTrainable.set(weightedMean(results.map((r) => r.nonTrainable), counts));
      this.sgd.apply(this.weights.trainable, gradient, rate, correctsMomentum(this.config.policy));
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
      if (!Number.isFinite(loss)) throw new Error(`elastic training diverged at step ${entry.step}: loss is ${loss}; lower the learning rate`);
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

function reply(res: ServerResponse, status: number, body: object): void {
  if (res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The weights are encoded once per step; only the header (each member's own ids) differs. */
function sendWork(res: ServerResponse, weights: Buffer, header: WorkHeader): void {
  if (res.writableEnded) return;
  const body = Buffer.concat([encodeMessage(header), weights]);
  res.writeHead(200, { 'content-type': WIRE_CONTENT_TYPE, 'content-length': body.length });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
