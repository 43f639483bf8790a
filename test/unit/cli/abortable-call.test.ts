/** callUntilAborted: the caller's signal cancels the call, and the SDK's per-call listeners do not pile up on it. */
import { getEventListeners } from 'node:events';
import { callUntilAborted } from '../../../cli/abortable-call';

/** Like the Temporal client: every call made under the signal adds an 'abort' listener that cancels it, never removed. */
function sdkLikeClient() {
  const client = {
    calls: 0,
    async withAbortSignal<R>(signal: AbortSignal, fn: () => Promise<R>): Promise<R> {
      return fn();
    },
    longPoll(signal: AbortSignal, polls: number): Promise<string> {
      return new Promise((resolve, reject) => {
        let left = polls;
        const next = () => {
          if (signal.aborted) return reject(new Error('call cancelled'));
          client.calls++;
          signal.addEventListener('abort', () => reject(new Error('call cancelled')));
          if (--left === 0) resolve('done');
          else setImmediate(next);
        };
        next();
      });
    },
  };
  return client;
}

test('a call of many polls leaves no listener on the caller signal and prints no leak warning', async () => {
  const client = sdkLikeClient();
  const caller = new AbortController();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  let own: AbortSignal | undefined;
  const result = await callUntilAborted({ withAbortSignal: (s, fn) => ((own = s), client.withAbortSignal(s, fn)) }, caller.signal, () => client.longPoll(own!, 50));
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  expect(result).toBe('done');
  expect(client.calls).toBe(50);
  expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
});

test('aborting the caller signal cancels the call in flight, with the caller reason reaching it', async () => {
  const client = sdkLikeClient();
  const caller = new AbortController();
  let own: AbortSignal | undefined;
  const pending = callUntilAborted({ withAbortSignal: (s, fn) => ((own = s), client.withAbortSignal(s, fn)) }, caller.signal, () => client.longPoll(own!, 1_000_000));
  await new Promise((r) => setImmediate(r));
  caller.abort('SIGINT');
  await expect(pending).rejects.toThrow('call cancelled');
  expect(own!.aborted).toBe(true);
  expect(own!.reason).toBe('SIGINT');
});

test('a signal aborted before the call cancels it at once', async () => {
  const client = sdkLikeClient();
  const caller = new AbortController();
  caller.abort('detach');
  let own: AbortSignal | undefined;
  const pending = callUntilAborted({ withAbortSignal: (s, fn) => ((own = s), client.withAbortSignal(s, fn)) }, caller.signal, () => client.longPoll(own!, 1_000_000));
  await expect(pending).rejects.toThrow('call cancelled');
});
