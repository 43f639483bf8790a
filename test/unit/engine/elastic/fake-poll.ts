/** A held /next request without a socket: records what it was answered, for membership and step-loop tests. */
import type { Poll } from '../../../../engine/elastic/plane';
import type { NextReply, WorkHeader } from '../../../../engine/elastic/protocol';

export class FakePoll implements Poll {
  reply?: { status: number; body: NextReply };
  sent?: { weights: Buffer; header: WorkHeader };
  delivered = false;
  private readonly closeListeners: (() => void)[] = [];

  /** `onWork` and `onReply` run when the poll is answered, as a worker receiving the answer would. */
  constructor(
    private readonly onWork?: (header: WorkHeader, weights: Buffer) => void,
    private readonly onReply?: (status: number, body: NextReply) => void,
  ) {}

  get answered(): boolean {
    return this.reply !== undefined || this.sent !== undefined;
  }

  answer(status: number, body: NextReply): void {
    if (this.answered) return;
    this.reply = { status, body };
    this.delivered = true;
    this.onReply?.(status, body);
  }

  work(weights: Buffer, header: WorkHeader): void {
    if (this.answered) return;
    this.sent = { weights, header };
    this.delivered = true;
    this.onWork?.(header, weights);
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** The connection closes (the worker died, or the answer went out and the request ended). */
  close(): void {
    for (const l of this.closeListeners) l();
  }
}
