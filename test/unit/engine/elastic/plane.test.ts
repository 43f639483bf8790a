/**
 * The elastic data plane's HTTP side with stub handlers, no training behind it: what is refused
 * before any handler runs (method, token, endpoint, body size, JSON), what reaches each handler
 * decoded, and how a held poll answers.
 */
import { DataPlane, GRADIENT_HEADER_ROOM, JSON_BODY_LIMIT, type Answer, type PlaneHandlers, type Poll } from '../../../../engine/elastic/plane';
import type { WorkHeader } from '../../../../engine/elastic/protocol';
import { WIRE_CONTENT_TYPE, decodeMessage, encodeMessage, floatBytes } from '../../../../engine/elastic/wire';

const OK: Answer = { status: 200, body: { ok: true } };
const FLOATS = 10;

function stubs() {
  const calls: { endpoint: string; request: unknown }[] = [];
  const polls: Poll[] = [];
  const handlers: PlaneHandlers = {
    join: (request) => (calls.push({ endpoint: 'join', request }), { status: 200, body: { kind: 'joined', memberId: 'm1' } }),
    next: (request, poll) => {
      calls.push({ endpoint: 'next', request });
      polls.push(poll);
      return undefined;
    },
    gradient: (header, values) => (calls.push({ endpoint: 'gradient', request: { header, values: Array.from(values) } }), OK),
    leave: (request) => (calls.push({ endpoint: 'leave', request }), OK),
    diverged: () => {
      throw new Error('handler broke');
    },
  };
  return { calls, polls, handlers };
}

describe('the elastic data plane (HTTP, stub handlers)', () => {
  let plane: DataPlane;
  let url: string;
  let stub: ReturnType<typeof stubs>;
  const post = (path: string, body: string | Buffer, token = 'tok', init: RequestInit = {}) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body, ...init });

  beforeEach(async () => {
    stub = stubs();
    plane = new DataPlane('tok', FLOATS, stub.handlers);
    url = await plane.listen('127.0.0.1');
  });

  afterEach(() => plane.close(0));

  it('refuses wrong methods, tokens and endpoints, and closes the connection, before any handler runs', async () => {
    const refused = [
      await fetch(`${url}/join`),
      await post('/join', '{}', 'other'),
      await fetch(`${url}/join`, { method: 'POST', body: '{}' }),
      await post('/status', '{}'),
    ];
    expect(refused.map((r) => r.status)).toEqual([405, 401, 401, 404]);
    expect(refused.every((r) => r.headers.get('connection') === 'close')).toBe(true);
    expect(await refused[3].json()).toEqual({ error: 'no such endpoint /status' });
    expect(stub.calls).toEqual([]);
  });

  it('bounds bodies: a JSON one to JSON_BODY_LIMIT, a gradient to the model size plus GRADIENT_HEADER_ROOM', async () => {
    expect((await post('/join', 'x'.repeat(JSON_BODY_LIMIT + 1))).status).toBe(413);
    const limit = 4 * FLOATS + GRADIENT_HEADER_ROOM;
    const over = await post('/gradient', Buffer.alloc(limit + 1));
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ error: `request body of ${limit + 1} bytes is over this endpoint's limit of ${limit} bytes` });
    expect(stub.calls).toEqual([]);
  });

  it('answers 400 for a body that is not JSON or not a data-plane message, and 500 with the message when a handler throws', async () => {
    const notJson = await post('/leave', '{');
    expect([notJson.status, await notJson.json()]).toEqual([400, { error: '/leave takes a JSON body' }]);
    const notWire = await post('/gradient', Buffer.from([1]));
    expect([notWire.status, await notWire.json()]).toEqual([400, { error: 'malformed data-plane message: shorter than its length prefix' }]);
    const broke = await post('/diverged', '{}');
    expect([broke.status, await broke.json()]).toEqual([500, { error: 'handler broke' }]);
  });

  it('hands each endpoint its decoded request and sends back the answer', async () => {
    const joined = await post('/join', JSON.stringify({ name: 'w', signature: 's' }));
    expect(await joined.json()).toEqual({ kind: 'joined', memberId: 'm1' });
    await (await post('/leave', JSON.stringify({ memberId: 'm1' }))).text();
    const header = { memberId: 'm1', step: 3, count: 2, loss: 0.5 };
    const sent = await post('/gradient', encodeMessage(header, Float32Array.of(1, 2), Float32Array.of(3)));
    expect(await sent.json()).toEqual({ ok: true });
    expect(stub.calls).toEqual([
      { endpoint: 'join', request: { name: 'w', signature: 's' } },
      { endpoint: 'leave', request: { memberId: 'm1' } },
      { endpoint: 'gradient', request: { header, values: [1, 2, 3] } },
    ]);
  });

  it('a held poll answers once: work as a binary message with the weights, anything after it ignored', async () => {
    const pending = post('/next', JSON.stringify({ memberId: 'm1' }));
    while (stub.polls.length === 0) await new Promise((r) => setTimeout(r, 5));
    const poll = stub.polls[0];
    expect(poll.answered).toBe(false);
    const work: WorkHeader = { kind: 'work', step: 1, epoch: 0, ids: [4, 5], seed: 9 };
    poll.work(floatBytes(Float32Array.of(0.25, 0.5)), work);
    poll.answer(200, { kind: 'wait' });
    expect(poll.answered).toBe(true);
    const res = await pending;
    expect(res.headers.get('content-type')).toBe(WIRE_CONTENT_TYPE);
    const message = decodeMessage<WorkHeader>(new Uint8Array(await res.arrayBuffer()));
    expect(message.header).toEqual(work);
    expect(Array.from(message.values)).toEqual([0.25, 0.5]);
  });

  it('tells a held poll that its connection closed before it was answered', async () => {
    const abort = new AbortController();
    const pending = post('/next', JSON.stringify({ memberId: 'm1' }), 'tok', { signal: abort.signal }).catch(() => undefined);
    while (stub.polls.length === 0) await new Promise((r) => setTimeout(r, 5));
    const poll = stub.polls[0];
    const closed = new Promise<void>((resolve) => poll.onClose(resolve));
    abort.abort();
    await pending;
    await closed;
    expect(poll.delivered).toBe(false);
  });
});
