/**
 * The live progress line `nas run` and `nas watch` print (stage, epoch, step, rate, ETA, accuracy),
 * and how the poll behind it stops.
 */
import type { WorkflowClient } from '@temporalio/client';
import { followProgress, formatProgress } from '../../../cli/progress';

describe('progress line', () => {
  it('elastic training shows epoch, share of samples, workers, rate, ETA and the last epoch accuracy', () => {
    const line = formatProgress({
      stage: 'elastic-phi-1',
      elastic: {
        step: 1200,
        epoch: 1,
        epochs: 3,
        samplesDone: 90_000,
        samplesTotal: 180_000,
        workers: 2,
        learningRate: 0.05,
        loss: 0.3123,
        imagesPerSecond: 750,
        etaSeconds: 120,
        accuracy: { value: 0.8812, on: '2000 test images' },
      },
      attempt: 2,
    });
    expect(line).toBe(
      '[elastic-phi-1] epoch 2/3  50.0% of samples  step 1200  2 workers  lr 0.0500  loss 0.3123  750 img/s  ETA 2m00s  acc 0.8812 (2000 test images)  coordinator attempt 2',
    );
  });

  it('a training activity shows steps, rate and ETA, and the workflow-level accuracy of a one-shot search', () => {
    const line = formatProgress({
      stage: 'search',
      activity: { step: 80, totalSteps: 142, epoch: 1, epochs: 2, loss: 1.9, imagesPerSecond: 400, etaSeconds: 19 },
      accuracy: { value: 0.6, on: 'validation sample, derived architecture' },
    });
    expect(line).toBe('[search] epoch 2/2  step 80/142  loss 1.9000  400 img/s  ETA 19s  acc 0.6000 (validation sample, derived architecture)');
  });

  it('says nothing before a stage runs and "starting" before the first heartbeat', () => {
    expect(formatProgress({})).toBeUndefined();
    expect(formatProgress({ stage: 'train' })).toBe('[train] starting');
  });
});

describe('stopping the progress poll', () => {
  /** A client whose status query stays unanswered until the test answers it or the call is aborted. */
  function pendingClient() {
    const calls: { signal: AbortSignal; answer: () => void }[] = [];
    const client = {
      withAbortSignal: <R>(signal: AbortSignal, fn: () => Promise<R>) => {
        calls.push({ signal, answer: () => undefined });
        return fn();
      },
      getHandle: () => ({
        query: () =>
          new Promise((resolve, reject) => {
            const call = calls[calls.length - 1];
            call.answer = () => resolve({});
            call.signal.addEventListener('abort', () => reject(new Error('aborted')));
          }),
      }),
    } as unknown as WorkflowClient;
    return { client, calls };
  }
  const settled = (p: Promise<void>) => {
    const state = { done: false };
    void p.then(() => (state.done = true));
    return state;
  };

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  // The caller closes its connection once stop resolves; a call still retrying then fires on a shut
  // channel outside any await and kills the process ("Channel has been shut down").
  it('waits for the poll in flight to be answered before it resolves', async () => {
    const { client, calls } = pendingClient();
    const stop = followProgress(client, 'run-1');
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls).toHaveLength(1);
    const stopped = settled(stop());
    await jest.advanceTimersByTimeAsync(1000);
    expect(stopped.done).toBe(false);
    expect(calls[0].signal.aborted).toBe(false);
    calls[0].answer();
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped.done).toBe(true);
    // And it polls no more.
    await jest.advanceTimersByTimeAsync(5000);
    expect(calls).toHaveLength(1);
  });

  it('aborts a poll nobody answers after a grace period, and each poll gets a signal of its own', async () => {
    const { client, calls } = pendingClient();
    const stop = followProgress(client, 'run-1');
    await jest.advanceTimersByTimeAsync(1000);
    calls[0].answer();
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls).toHaveLength(2);
    expect(calls[1].signal).not.toBe(calls[0].signal);
    const stopped = settled(stop());
    await jest.advanceTimersByTimeAsync(4900);
    expect(stopped.done).toBe(false);
    await jest.advanceTimersByTimeAsync(100);
    expect(calls[1].signal.aborted).toBe(true);
    expect(stopped.done).toBe(true);
  });
});
