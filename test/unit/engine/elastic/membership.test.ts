/**
 * The membership rules of elastic training on their own, without HTTP or training: who is
 * admitted, how long a poll is held, when a silent member is dropped and what happens to the slice
 * it held, and when a step may start. Time is jest's fake clock.
 */
import { Membership, type Member, type MembershipConfig } from '../../../../engine/elastic/membership';
import { FakePoll } from './fake-poll';

const base: MembershipConfig = { minWorkers: 1, stepTimeoutMs: 10_000, pollHoldMs: 500 };

function setup(config: Partial<MembershipConfig> = {}) {
  const givenBack: number[][] = [];
  let changes = 0;
  const m = new Membership({ ...base, ...config }, 'sig', { changed: () => void changes++, giveBack: (ids) => void givenBack.push(ids) });
  const join = (name: string) => (m.join({ name, signature: 'sig' }).body as { memberId: string }).memberId;
  /** The member asks for work; returns its held poll. */
  const poll = (memberId: string) => {
    const p = new FakePoll();
    expect(m.next({ memberId }, p)).toBeUndefined();
    return p;
  };
  const member = (id: string) => m.member(id) as Member;
  return { m, givenBack, changes: () => changes, join, poll, member };
}

const result = (count: number) => ({ gradient: new Float32Array(2), nonTrainable: new Float32Array(1), count, loss: 1 });

beforeEach(() => {
  jest.useFakeTimers();
  jest.setSystemTime(1_000_000);
});

afterEach(() => jest.useRealTimers());

describe('elastic membership: joining and polling', () => {
  it('admits only workers that built the same model, and tells everyone done once the run is over', () => {
    const { m, join, poll, changes } = setup();
    expect(m.join({ name: 'other', signature: 'xyz' })).toEqual({ status: 409, body: { error: 'worker other built a model with weight layout xyz, the run trains sig' } });
    expect(changes()).toBe(0);
    const id = join('a');
    expect(changes()).toBe(1);
    expect(m.names()).toEqual(['a']);
    const held = poll(id);
    m.finish();
    expect(held.reply).toEqual({ status: 200, body: { kind: 'done' } });
    expect(m.join({ name: 'late', signature: 'sig' })).toEqual({ status: 200, body: { kind: 'done' } });
    expect(m.next({ memberId: id }, new FakePoll())).toEqual({ status: 200, body: { kind: 'done' } });
  });

  it('keeps a long name out of logs, and tells a member it does not know to join again', () => {
    const { m, join } = setup();
    join('x'.repeat(1000));
    expect(m.names()[0]).toHaveLength(200);
    expect(m.next({ memberId: 'nobody' }, new FakePoll())).toEqual({ status: 410, body: { kind: 'rejoin' } });
  });

  it('holds a poll for pollHoldMs, then tells the member to ask again; a second poll releases the first', () => {
    const { join, poll, member } = setup();
    const id = join('a');
    const first = poll(id);
    const second = poll(id);
    expect(first.reply).toEqual({ status: 200, body: { kind: 'wait' } });
    expect(member(id).state).toBe('waiting');
    jest.advanceTimersByTime(499);
    expect(second.answered).toBe(false);
    jest.advanceTimersByTime(1);
    expect(second.reply).toEqual({ status: 200, body: { kind: 'wait' } });
    expect(member(id).state).toBe('idle');
    expect(member(id).lastHeard).toBe(Date.now());
  });

  it('drops a member whose poll closes unanswered (its worker died), not one whose poll was answered', () => {
    const { m, join, poll } = setup();
    const dropped = m.beginDropLog();
    const a = join('a');
    const b = join('b');
    poll(a).close();
    const answered = poll(b);
    jest.advanceTimersByTime(500);
    answered.close();
    expect(m.names()).toEqual(['b']);
    expect(dropped).toEqual(['a (connection closed)']);
  });

  it('drops a member that asks for work while holding some, and gives its slice back', () => {
    const { m, join, poll, member, givenBack } = setup();
    const dropped = m.beginDropLog();
    const a = join('a');
    poll(a);
    m.assign(member(a), 0, [4, 5]);
    expect(m.next({ memberId: a }, new FakePoll())).toEqual({ status: 410, body: { kind: 'rejoin' } });
    expect(givenBack).toEqual([[4, 5]]);
    expect(dropped).toEqual(['a (abandoned its assignment)']);
  });
});

describe('elastic membership: when a step may start', () => {
  it('waits for minWorkers, then hands out the waiting members in join order', () => {
    const { m, join, poll } = setup({ minWorkers: 2 });
    const b = join('b');
    jest.advanceTimersByTime(1);
    const a = join('a');
    poll(a);
    // b joined and is expected to ask for work: not yet, for at most the idle grace (2 s floor).
    expect(m.readiness()).toEqual({ ready: false, present: 2, graceLeftMs: 2000 - 1 });
    poll(b);
    const ready = m.readiness();
    expect(ready.ready && ready.members.map((x) => x.name)).toEqual(['b', 'a']);
    m.drop(b, 'left');
    expect(m.readiness()).toEqual({ ready: false, present: 1, graceLeftMs: undefined });
  });

  it('starts without a member that joined and never asks for work once the idle grace has passed', () => {
    const { m, join, poll } = setup({ pollHoldMs: 10_000 });
    const a = join('a');
    join('silent');
    poll(a);
    expect(m.readiness()).toMatchObject({ ready: false, graceLeftMs: 2000 });
    jest.advanceTimersByTime(1500);
    expect(m.readiness()).toMatchObject({ ready: false, graceLeftMs: 500 });
    jest.advanceTimersByTime(500);
    expect(m.readiness()).toMatchObject({ ready: false, graceLeftMs: 0 });
    jest.advanceTimersByTime(1);
    const ready = m.readiness();
    expect(ready.ready && ready.members.map((x) => x.name)).toEqual(['a']);
    // Left out, not dropped.
    expect(m.names()).toEqual(['a', 'silent']);
  });

  it('the idle grace is twice the slowest recent answer, at least its floor, at most the step timeout', () => {
    const { m, join, poll, member } = setup({ stepTimeoutMs: 5000, idleGraceFloorMs: 1000 });
    expect(m.idleGraceMs()).toBe(1000);
    const a = join('a');
    poll(a);
    m.assign(member(a), 0, [1]);
    jest.advanceTimersByTime(800);
    m.deliver(member(a), result(1));
    expect(m.idleGraceMs()).toBe(1600);
    poll(a);
    m.assign(member(a), 1, [2]);
    jest.advanceTimersByTime(4000);
    m.deliver(member(a), result(1));
    expect(m.idleGraceMs()).toBe(5000);
  });
});

describe('elastic membership: silent members', () => {
  it('a newcomer holding its first assignment is dropped after 4x the slowest answer seen, its slice given back; its late answer raises the deadline', () => {
    const { m, join, poll, member, givenBack } = setup({ newcomerDeadlineFloorMs: 1000 });
    const dropped = m.beginDropLog();
    // Before any answer a newcomer has the whole step timeout.
    expect(m.newcomerDeadlineMs()).toBe(10_000);
    const a = join('a');
    poll(a);
    m.assign(member(a), 0, [1, 2]);
    jest.advanceTimersByTime(300);
    m.deliver(member(a), result(2));
    expect(m.newcomerDeadlineMs()).toBe(1200);

    const b = join('b');
    poll(b);
    poll(a);
    m.assign(member(b), 1, [3, 4]);
    jest.advanceTimersByTime(1200);
    m.dropSilent();
    expect(m.names()).toEqual(['a', 'b']);
    jest.advanceTimersByTime(1);
    m.dropSilent();
    expect(m.names()).toEqual(['a']);
    expect(dropped).toEqual(['b (silent for 1 s)']);
    expect(givenBack).toEqual([[3, 4]]);

    // Its gradient arrives after all: not accepted, but answers can take this long.
    jest.advanceTimersByTime(499);
    expect(m.answering(b, 1)).toBeUndefined();
    expect(m.newcomerDeadlineMs()).toBe(4 * 1700);
  });

  it('an established member keeps the whole step timeout, and a waiting one is never silent', () => {
    const { m, join, poll, member } = setup({ stepTimeoutMs: 3000 });
    const a = join('a');
    const b = join('b');
    poll(a);
    m.assign(member(a), 0, [1]);
    m.deliver(member(a), result(1));
    poll(a);
    m.assign(member(a), 1, [2]);
    // b waits for work the whole time: its poll is held and asked again.
    for (let t = 0; t < 6; t++) {
      poll(b);
      jest.advanceTimersByTime(500);
    }
    m.dropSilent();
    expect(m.names()).toEqual(['a', 'b']);
    jest.advanceTimersByTime(1);
    m.dropSilent();
    expect(m.names()).toEqual(['b']);
  });
});

describe('elastic membership: assignments and results', () => {
  it('accepts a gradient only from the member holding that step, and keeps a delivered one when its member is dropped', () => {
    const { m, join, poll, member, givenBack } = setup();
    const a = join('a');
    expect(m.answering(a, 0)).toBeUndefined();
    const held = poll(a);
    expect(m.assign(member(a), 7, [1, 2, 3])).toBe(held);
    expect(member(a).poll).toBeUndefined();
    expect(m.answering(a, 6)).toBeUndefined();
    expect(m.answering(a, 7)?.assignment.ids).toEqual([1, 2, 3]);
    expect(m.unanswered([member(a)])).toBe(1);
    const worker = member(a);
    m.deliver(worker, result(3));
    m.drop(a, 'left');
    expect(givenBack).toEqual([]);
    expect(m.unanswered([worker])).toBe(0);
    expect(m.takeResult(worker)).toMatchObject({ name: 'a', ids: [1, 2, 3], count: 3 });
    expect(m.takeResult(worker)).toBeUndefined();
  });

  it('a dropped member that had not answered is counted answered (nothing more to wait for) and its slice is given back', () => {
    const { m, join, poll, member, givenBack } = setup();
    const a = join('a');
    poll(a);
    const worker = member(a);
    m.assign(worker, 0, [8, 9]);
    m.drop(a, 'left');
    expect(m.unanswered([worker])).toBe(0);
    expect(m.takeResult(worker)).toBeUndefined();
    expect(givenBack).toEqual([[8, 9]]);
  });

  it('logs drops into the array of the latest beginDropLog', () => {
    const { m, join } = setup();
    const before = m.beginDropLog();
    m.drop(join('a'), 'left');
    const after = m.beginDropLog();
    m.drop(join('b'), 'left');
    m.drop('nobody', 'left');
    expect(before).toEqual(['a (left)']);
    expect(after).toEqual(['b (left)']);
  });
});
