/**
 * Which training samples are still due in the current epoch. Every epoch walks a seeded
 * permutation; samples handed to a worker that then vanishes are given back and handed out again,
 * and a sample counts as visited only when its gradient was applied. So each epoch applies every
 * sample exactly once, however workers come and go, and the whole state fits in a checkpoint.
 */
import { epochOrder } from '../data/batches';

export interface EpochCursorState {
  epoch: number;
  /** Position in this epoch's permutation of the next sample not yet handed out. */
  next: number;
  /** Samples handed out but given back, handed out again before the permutation goes on. */
  returned: number[];
  /** Samples applied this epoch, in the order their gradients were applied. */
  applied: number[];
}

export class ExactlyOnceViolation extends Error {
  constructor(detail: string) {
    super(`epoch coverage broken: ${detail}`);
    this.name = 'ExactlyOnceViolation';
  }
}

export class EpochCursor {
  private order: Uint32Array;
  private state: EpochCursorState;
  private outstanding = new Set<number>();
  private seen: Uint8Array;

  constructor(
    /** The training samples (dataset indices) one epoch covers. */
    private readonly samples: Uint32Array,
    private readonly seed: number,
    state: EpochCursorState = { epoch: 0, next: 0, returned: [], applied: [] },
  ) {
    this.state = structuredClone(state);
    this.order = this.permutation(this.state.epoch);
    let largest = -1;
    for (const s of samples) if (s > largest) largest = s;
    this.seen = new Uint8Array(largest + 1);
    for (const id of this.state.applied) this.seen[id] = 1;
  }

  private permutation(epoch: number): Uint32Array {
    return epochOrder(this.samples.length, this.seed, epoch).map((i) => this.samples[i]);
  }

  get epoch(): number {
    return this.state.epoch;
  }

  get size(): number {
    return this.samples.length;
  }

  get appliedCount(): number {
    return this.state.applied.length;
  }

  /** Up to n samples due next; they stay outstanding until applied or given back. */
  take(n: number): number[] {
    const out: number[] = [];
    while (out.length < n && this.state.returned.length > 0) out.push(this.state.returned.shift()!);
    while (out.length < n && this.state.next < this.order.length) out.push(this.order[this.state.next++]);
    for (const id of out) this.outstanding.add(id);
    return out;
  }

  /** Samples whose worker vanished: due again, first in line. */
  giveBack(ids: readonly number[]): void {
    for (const id of ids) {
      if (!this.outstanding.delete(id)) throw new ExactlyOnceViolation(`sample ${id} given back but not outstanding`);
    }
    this.state.returned.unshift(...ids);
  }

  /** Samples whose gradients were applied. */
  commit(ids: readonly number[]): void {
    for (const id of ids) {
      if (!this.outstanding.delete(id)) throw new ExactlyOnceViolation(`sample ${id} applied but not outstanding`);
      if (this.seen[id]) throw new ExactlyOnceViolation(`sample ${id} applied twice in epoch ${this.state.epoch}`);
      this.seen[id] = 1;
      this.state.applied.push(id);
    }
  }

  /** Every sample of the epoch applied and none in flight. */
  get epochComplete(): boolean {
    return this.state.applied.length === this.samples.length && this.outstanding.size === 0;
  }

  /** Ends a complete epoch; returns the order in which its samples were applied. */
  nextEpoch(): number[] {
    if (!this.epochComplete) {
      throw new ExactlyOnceViolation(`epoch ${this.state.epoch} ended with ${this.state.applied.length} of ${this.samples.length} samples applied`);
    }
    const applied = this.state.applied;
    this.state = { epoch: this.state.epoch + 1, next: 0, returned: [], applied: [] };
    this.order = this.permutation(this.state.epoch);
    this.seen.fill(0);
    return applied;
  }

  /** The state between steps (nothing outstanding), for a checkpoint. */
  snapshot(): EpochCursorState {
    if (this.outstanding.size > 0) throw new Error('cursor snapshot taken while samples are in flight');
    return structuredClone(this.state);
  }
}
