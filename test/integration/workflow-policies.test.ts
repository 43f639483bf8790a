/**
 * workflows/policies.ts on a real (local) Temporal server with stub activities: a failure the
 * table names is not retried and reaches the client as its one line; any other is retried.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ArtifactStoreAccessError, ArtifactStoreFullError } from '../../artifacts';
import { failureText } from '../../cli/runs';
import { PERMANENT_FAILURES } from '../../core/failures';
import { retryPolicy } from '../../workflows/policies';
import type { TrainStageInput } from '../../workflows/train-stage';
import { startWorkflowEnvironment, withStubWorker } from '../support/workflow-env';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startWorkflowEnvironment();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

/** Enough of a train stage's input for its workflow: the activities are stubs. */
const input = { runId: 'r', stage: 'train', artifactLocation: 'file:///full', train: { heartbeatTimeoutSeconds: 30 }, targets: [], pluginFiles: [] } as unknown as TrainStageInput;
const trained = { modelKey: 'runs/r/train/model.json', modelWeightsKey: 'runs/r/train/weights.bin', inputShape: [28, 28, 1] };

async function trainStage(trainClassifier: () => Promise<unknown>): Promise<unknown> {
  return withStubWorker(env, { trainClassifier, measureLatency: async () => ({}) }, (taskQueue) =>
    env.client.workflow.execute('trainStageWorkflow', { taskQueue, workflowId: `policy-${Math.random()}`, args: [input] }),
  );
}

/** What the store wraps: the operating system's own error, which the user's line must not be. */
const osError = (message: string) => Object.assign(new Error(message), { code: message.split(':')[0] });

test.each([
  ['a full disk', () => new ArtifactStoreFullError('runs/r/train/ckpt-100.bin', 'file:///full', 'ENOSPC', osError('ENOSPC: no space left on device, write')), 'cannot store artifact "runs/r/train/ckpt-100.bin" in file:///full: no space left on device; free space there, then `nas resume r` continues from the newest checkpoint'],
  ['a read-only folder', () => new ArtifactStoreAccessError('runs/r/train/ckpt-100.bin', 'file:///full', 'store', 'EROFS', osError('EROFS: read-only file system, open')), 'cannot store artifact "runs/r/train/ckpt-100.bin" in file:///full: read-only file system (EROFS); make the folder writable by this user, then `nas resume r` continues from the newest checkpoint'],
])('%s fails the stage at its first attempt, in one line that says how to go on', async (_what, error, line) => {
  let attempts = 0;
  const err = await trainStage(async () => {
    attempts++;
    throw error();
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(attempts).toBe(1);
  expect(failureText(err as Error, 'r')).toBe(line);
});

test('a failure not in the table is retried, and the stage goes on once it passes', async () => {
  let attempts = 0;
  const result = await trainStage(async () => {
    if (++attempts < 3) throw Object.assign(new Error('cannot reach S3 endpoint http://127.0.0.1:9 for bucket b: ECONNREFUSED'), { name: 'ArtifactStoreUnavailableError' });
    return trained;
  });
  expect(attempts).toBe(3);
  expect(result).toEqual({ ...trained, latency: [] });
}, 60_000);

test('every retry kind carries the whole table', () => {
  for (const kind of ['short', 'checkpointed', 'elastic', 'slot'] as const) {
    expect(retryPolicy(kind).nonRetryableErrorTypes).toEqual(Object.keys(PERMANENT_FAILURES));
  }
});
