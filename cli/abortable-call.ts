/**
 * Temporal calls that a signal (Ctrl-C, a detach) cancels. The client's `withAbortSignal` adds one
 * 'abort' listener to the signal for every gRPC call made under it and never removes one; waiting
 * for a run's result long-polls, a call every 20 s or so, so a run followed for minutes passed
 * Node's limit of 10 and printed its "possible memory leak" warning among the progress lines.
 * Those listeners are the SDK's to keep (they cancel its calls), so they go on a signal of this
 * call's own, without a limit, which the caller's signal aborts through one listener that is
 * removed when the call ends. Cancelling matters: a call merely abandoned keeps retrying on a
 * timer after its connection is closed and ends the process with "Channel has been shut down".
 */
import { setMaxListeners } from 'node:events';

interface AbortableClient {
  withAbortSignal<R>(signal: AbortSignal, fn: () => Promise<R>): Promise<R>;
}

export async function callUntilAborted<R>(client: AbortableClient, signal: AbortSignal, fn: () => Promise<R>): Promise<R> {
  const own = new AbortController();
  setMaxListeners(0, own.signal);
  const forward = (): void => own.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  try {
    return await client.withAbortSignal(own.signal, fn);
  } finally {
    signal.removeEventListener('abort', forward);
  }
}
