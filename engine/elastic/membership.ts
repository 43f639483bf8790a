/**
 * Who takes part in elastic training, and who holds which slice of the step: joins, long polls,
 * leaves, and the rules for members that fall silent.
 *
 * A member that leaves, dies or stays silent past `stepTimeoutMs` is dropped and the samples it
 * held go back to be handed out again. A member that joins and then stays silent holds nobody up
 * for long: a step starts without members that have not asked for work within a grace derived
 * from the answer times observed (with a floor), and a newcomer that holds its first assignment
 * past a few times the slowest answer seen is dropped like a dead worker (an established one keeps
 * the whole `stepTimeoutMs`). A newcomer dropped so whose gradient still arrives teaches that
 * answers can take that long, so a slow machine is turned away once at most.
 *
 * It speaks to workers through `Poll` and `Answer` only, so its rules run without a socket.
 */
import { randomUUID } from 'node:crypto';
import type { Answer, Poll } from './plane';
import type { JoinReply, JoinRequest, NextReply } from './protocol';

export interface MembershipConfig {
  minWorkers: number;
  /** A worker that has not answered for this long is dropped and its samples handed out again. */
  stepTimeoutMs: number;
  /** How long a waiting worker's long poll is held before it is told to ask again. */
  pollHoldMs?: number;
  /** Floor of how long a step waits for a present member to ask for work. Default 2000 ms. */
  idleGraceFloorMs?: number;
  /** Floor of how long a newcomer may hold its first assignment. Default 5000 ms. */
  newcomerDeadlineFloorMs?: number;
}

/** What membership tells the side that owns the samples and waits on it. */
export interface MembershipEvents {
  /** Something a waiting step may be waiting for happened (a join, a poll, a gradient, a drop). */
  changed(): void;
  /** Samples of an assignment that will never be answered: due again. */
  giveBack(ids: number[]): void;
}

/** Answer times (work sent to gradient received) remembered for the grace and deadlines. */
const ANSWERS_KEPT = 32;
/** Newcomers dropped for holding work too long, remembered so that their late answer still counts as an observation. */
const LATE_KEPT = 64;

/** The answer to a request from someone who is not (or no longer) a member: join again. */
export const REJOIN: Answer = { status: 410, body: { kind: 'rejoin' } satisfies NextReply };

/** What a member computed for its assignment. */
export interface MemberResult {
  gradient: Float32Array;
  nonTrainable: Float32Array;
  count: number;
  loss: number;
}

/** One worker's gradient for a slice of the step's global batch. */
export interface Contribution extends MemberResult {
  name: string;
  ids: number[];
}

export interface Member {
  id: string;
  name: string;
  joinedAt: number;
  /** waiting: a /next poll is held open; working: it holds an assignment; idle: between the two. */
  state: 'waiting' | 'working' | 'idle';
  poll?: Poll;
  assignment?: { step: number; ids: number[] };
  result?: MemberResult;
  /** When this member last spoke; idle or working members silent past the timeout are dropped. */
  lastHeard: number;
  /** When its current assignment was sent. */
  sentAt?: number;
  /** Whether it ever delivered a gradient: until then it is a newcomer, on a shorter deadline. */
  delivered: boolean;
}

/** A member holding the assignment a gradient is for. */
export type Assigned = Member & { assignment: NonNullable<Member['assignment']> };

/**
 * Whether a step can start: with the waiting members in join order, or not yet, with how many are
 * present and how long until the first member still expected to ask for work runs out of grace.
 */
export type Readiness = { ready: true; members: Member[] } | { ready: false; present: number; graceLeftMs?: number };

export class Membership {
  private readonly members = new Map<string, Member>();
  private finished = false;
  private dropped: string[] = [];
  /** Recent answer times in ms, oldest first. */
  private readonly answers: number[] = [];
  /** memberId -> when its assignment was sent, for newcomers dropped while holding one. */
  private readonly late = new Map<string, number>();

  constructor(
    private readonly config: MembershipConfig,
    /** layoutSignature of the model trained: a joiner must have built the same. */
    private readonly signature: string,
    private readonly events: MembershipEvents,
  ) {}

  names(): string[] {
    return [...this.members.values()].map((m) => m.name);
  }

  member(id: string): Member | undefined {
    return this.members.get(id);
  }

  /**
   * Starts the log of members dropped from now on, "name (why)". The array returned is the one
   * drops are appended to until the next call.
   */
  beginDropLog(): string[] {
    this.dropped = [];
    return this.dropped;
  }

  join(request: JoinRequest): Answer {
    if (this.finished) return { status: 200, body: { kind: 'done' } satisfies JoinReply };
    if (request.signature !== this.signature) {
      return { status: 409, body: { error: `worker ${request.name} built a model with weight layout ${request.signature}, the run trains ${this.signature}` } };
    }
    const id = randomUUID();
    // The name goes into logs and failure messages: a string, and short.
    const name = String(request.name).slice(0, 200);
    this.members.set(id, { id, name, joinedAt: Date.now(), state: 'idle', lastHeard: Date.now(), delivered: false });
    this.events.changed();
    return { status: 200, body: { kind: 'joined', memberId: id } satisfies JoinReply };
  }

  /** A member asks for work: its poll is held until work comes, the hold runs out, or it is dropped. */
  next(request: { memberId: string }, poll: Poll): Answer | undefined {
    if (this.finished) return { status: 200, body: { kind: 'done' } satisfies NextReply };
    const member = this.members.get(request.memberId);
    if (!member) return REJOIN;
    if (member.state === 'working' && !member.result) {
      // It asks for work while holding some: its assignment is lost, so start it afresh.
      this.drop(member.id, 'abandoned its assignment');
      return REJOIN;
    }
    if (member.poll) member.poll.answer(200, { kind: 'wait' });
    member.state = 'waiting';
    member.poll = poll;
    member.lastHeard = Date.now();
    const hold = setTimeout(() => {
      if (member.poll === poll) {
        member.poll = undefined;
        member.state = 'idle';
        member.lastHeard = Date.now();
        poll.answer(200, { kind: 'wait' });
      }
    }, this.config.pollHoldMs ?? 10_000);
    // A poll whose connection closes before it is answered: the worker is gone.
    poll.onClose(() => {
      clearTimeout(hold);
      if (member.poll === poll && !poll.delivered) this.drop(member.id, 'connection closed');
    });
    this.events.changed();
    return undefined;
  }

  leave(request: { memberId: string }): Answer {
    this.drop(request.memberId, 'left');
    return { status: 200, body: { ok: true } };
  }

  /** The run is over: every held poll is told so, and so is whoever joins or asks from now on. */
  finish(): void {
    this.finished = true;
    for (const m of this.members.values()) if (m.poll) m.poll.answer(200, { kind: 'done' });
  }

  /** Forgets a member; samples it held and had not answered for are given back. */
  drop(memberId: string, why: string): void {
    const member = this.members.get(memberId);
    if (!member) return;
    this.members.delete(memberId);
    if (member.assignment && !member.result) this.events.giveBack(member.assignment.ids);
    if (member.poll && !member.poll.answered) member.poll.answer(410, { kind: 'rejoin' });
    this.dropped.push(`${member.name} (${why})`);
    this.events.changed();
  }

  /**
   * Drops members that have been idle or working past the timeout, and newcomers that have held
   * their first assignment past the newcomer deadline.
   */
  dropSilent(): void {
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
   * A step may start once at least minWorkers wait for work and every other present member has
   * been silent past the idle grace (one that just answered asks again within milliseconds; one
   * that joined and never asks is left out after the grace instead of stalling the step).
   */
  readiness(): Readiness {
    const present = [...this.members.values()];
    const waiting = present.filter((m) => m.state === 'waiting');
    const now = Date.now();
    const grace = this.idleGraceMs();
    const expected = present.filter((m) => m.state !== 'waiting' && now - m.lastHeard <= grace);
    if (waiting.length >= this.config.minWorkers && expected.length === 0) {
      return { ready: true, members: waiting.sort((a, b) => a.joinedAt - b.joinedAt || a.id.localeCompare(b.id)) };
    }
    const graceLeftMs = expected.length > 0 ? grace - Math.min(...expected.map((m) => now - m.lastHeard)) : undefined;
    return { ready: false, present: present.length, graceLeftMs };
  }

  /** Hands `member` (waiting, so holding a poll) the slice `ids` of `step`; returns the poll to send the work on. */
  assign(member: Member, step: number, ids: number[]): Poll {
    member.assignment = { step, ids };
    member.result = undefined;
    member.state = 'working';
    member.lastHeard = Date.now();
    member.sentAt = member.lastHeard;
    const poll = member.poll!;
    member.poll = undefined;
    return poll;
  }

  /** How many of `members` are still present and have not answered their assignment. */
  unanswered(members: Iterable<Member>): number {
    return [...members].filter((m) => this.members.has(m.id) && !m.result).length;
  }

  /**
   * What `member` delivered, taken out of it, or undefined if nothing. A gradient that arrived
   * counts even if its member was dropped since: its samples were not given back.
   */
  takeResult(member: Member): Contribution | undefined {
    if (!member.result) return undefined;
    const contribution = { name: member.name, ids: member.assignment!.ids, ...member.result };
    member.result = undefined;
    member.assignment = undefined;
    return contribution;
  }

  /**
   * The member a gradient for `step` comes from, if it holds that step's assignment. If not, and
   * it is a newcomer dropped for lateness, its answer came after all: answers can take this long.
   */
  answering(memberId: string, step: number): Assigned | undefined {
    const member = this.members.get(memberId);
    if (!member || member.state !== 'working' || member.assignment?.step !== step) {
      const sentAt = this.late.get(memberId);
      if (sentAt !== undefined) {
        this.late.delete(memberId);
        this.observeAnswer(Date.now() - sentAt);
      }
      return undefined;
    }
    return member as Assigned;
  }

  /** Records what `member` computed for its assignment. */
  deliver(member: Member, result: MemberResult): void {
    member.result = result;
    member.state = 'idle';
    member.delivered = true;
    member.lastHeard = Date.now();
    if (member.sentAt !== undefined) this.observeAnswer(member.lastHeard - member.sentAt);
    this.events.changed();
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
}
