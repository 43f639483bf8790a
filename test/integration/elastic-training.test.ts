/**
 * Elastic training on the real stack: three `nas worker` processes against a Temporal dev server,
 * artifacts in MinIO, gradients over the HTTP data plane. Two workers are SIGKILLed mid-training
 * (one of them the coordinator's host) and a fresh one is started; the run must finish with every
 * epoch having applied every sample exactly once, counted by sample id.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/client';
import { getJson } from '../../artifacts';
import { checkpointStep, runLayout } from '../../core/run-layout';
import type { ElasticProgress } from '../../activities/elastic-training';
import { DATA_PLANE_KEY_ENV, deriveToken } from '../../engine/elastic/auth';
import type { EpochSummary, StepLogEntry } from '../../engine/elastic/coordinator';
import type { PipelineWorkflowResult } from '../../workflows/pipeline';
import { startCli, stopChild, waitFor } from './support/cli';
import { startClusterServices, type ClusterServices } from './support/cluster';
import { writeFashionSubset } from './support/fashion-subset';

jest.setTimeout(600_000);

const TRAIN = 6000;
const EPOCHS = 4;
const root = mkdtempSync(join(tmpdir(), 'nas-elastic-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), TRAIN, 1000);

describe('elastic training across worker processes', () => {
  let cluster: ClusterServices;
  const bucket = 'nas-elastic-it';

  beforeAll(async () => {
    cluster = await startClusterServices(root, bucket);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  test('3 workers, 2 SIGKILLed (one hosting the coordinator), 1 added: exact-once epochs and a finished model', async () => {
    const runId = 'elastic-churn';
    const location = `s3://${bucket}/runs`;
    // The installation's data-plane key, as every machine of a cluster sets it; the test derives the token from it.
    const dataPlaneKey = 'elastic-it-key-'.padEnd(64, '0');
    const env = { ...cluster.env('it-elastic'), [DATA_PLANE_KEY_ENV]: dataPlaneKey };
    const store = cluster.store(location);
    const { client, s3 } = cluster;
    const stage = runLayout(runId).elastic('elastic/small-cnn');

    const file = join(root, 'elastic.yaml');
    writeFileSync(
      file,
      `version: 1
name: elastic-churn
seed: 5
dataset: { name: fashion-mnist, path: ${dataDir} }
artifacts: { location: ${location} }
stages:
  elasticTraining:
    policy: dynamic-sgd
    windowIterations: 20
    perWorkerBatch: 32
    workers: { min: 1, max: 3 }
    epochs: ${EPOCHS}
    learningRate: 0.03
    checkpointEverySteps: 10
    heartbeatTimeoutSeconds: 5
    stepTimeoutSeconds: 5
`,
    );

    const workers = [1, 2, 3].map((i) => startCli(['worker', '--identity', `w${i}`], env));
    const submitter = startCli(['run', file, '--run-id', runId], env);
    const submitterExit = new Promise<number | null>((resolve) => submitter.once('close', resolve));
    let added: ReturnType<typeof startCli> | undefined;
    try {
      // Kill once all three train together and a checkpoint exists.
      const before = await waitFor(
        'three workers in one step and a checkpoint',
        async () => {
          const d = await client.workflow.getHandle(`${runId}.elastic-small-cnn`).describe();
          const coordinator = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'elasticCoordinator');
          const payload = coordinator?.heartbeatDetails?.payloads?.[0];
          const p = payload ? defaultPayloadConverter.fromPayload<ElasticProgress>(payload) : undefined;
          if (!(p?.checkpointKey && p.workers === 3 && p.epoch < EPOCHS - 1)) return undefined;
          // The kill rolls back to the newest checkpoint: wait until a step the three trained
          // together lies before it, or its log entry could be redone by fewer and never be stored.
          const covered = checkpointStep(p.checkpointKey) ?? 0;
          const stored = (await Promise.all((await store.list(stage.logPrefix)).map((k) => getJson<StepLogEntry[]>(store, k)))).flat();
          return stored.some((e) => e.workers.length === 3 && e.step < covered) ? p : undefined;
        },
        240_000,
        200,
      );
      const record = await getJson<{ worker: string; signature?: string }>(store, stage.coordinator);
      expect(record.signature).toMatch(/^[0-9a-f]{64}$/);
      const coordinatorPid = Number(record.worker.split(':').pop());
      const host = workers.find((w) => w.pid === coordinatorPid);
      expect(host).toBeDefined();
      const other = workers.find((w) => w !== host)!;
      host!.kill('SIGKILL');
      other.kill('SIGKILL');
      added = startCli(['worker', '--identity', 'w4'], env);

      const result = (await client.workflow.getHandle(runId).result()) as PipelineWorkflowResult;
      const elastic = result.elastic![0];
      expect(await submitterExit).toBe(0);

      // The coordinator moved to another process and resumed from a checkpoint, not from scratch.
      expect(elastic.attempt).toBeGreaterThanOrEqual(2);
      expect(elastic.resumedFromStep).toBeGreaterThan(0);
      expect(elastic.resumedFromStep).toBeGreaterThanOrEqual(before.step - 10);
      expect(elastic.testAccuracy).toBeGreaterThan(0.6);
      expect(await store.head(elastic.modelKey)).toBeDefined();

      // Exactly once per epoch, counted by sample id from the coverage records.
      for (let epoch = 0; epoch < EPOCHS; epoch++) {
        const coverage = await getJson<EpochSummary>(store, stage.coverage(epoch));
        const counts = new Uint8Array(TRAIN);
        for (const id of coverage.appliedOrder) counts[id]++;
        expect(coverage.appliedOrder).toHaveLength(TRAIN);
        expect(counts.every((c) => c === 1)).toBe(true);
      }

      // The membership log: three together before the kills, the newcomer after, steps contiguous.
      const chunks = (await store.list(stage.logPrefix)).sort();
      const log = (await Promise.all(chunks.map((k) => getJson<StepLogEntry[]>(store, k)))).flat();
      expect(log.map((e) => e.step)).toEqual(log.map((_, i) => i));
      const name = (child: { pid?: number }) => `${hostname()}:${child.pid}`;
      expect(log.some((e) => e.workers.length === 3)).toBe(true);
      expect(log.some((e) => e.workers.includes(name(added!)))).toBe(true);
      const afterKill = log.filter((e) => e.step >= elastic.resumedFromStep);
      expect(afterKill.every((e) => !e.workers.includes(name(host!)) && !e.workers.includes(name(other)))).toBe(true);
      expect(log.every((e) => e.learningRate > 0 && Number.isFinite(e.loss))).toBe(true);
      expect(submitter.output().stdout).toContain(`test accuracy ${elastic.testAccuracy.toFixed(4)}`);

      // Secrets stay secret: neither the S3 key, nor the data-plane key, nor the token derived from
      // it and the training's salt (the only part Temporal carries, in the activities' input)
      // appears in any output or in any artifact of the run.
      const history = await client.workflow.getHandle(`${runId}.elastic-small-cnn`).fetchHistory();
      const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'elasticCoordinator');
      const [coordinatorInput] = scheduled!.activityTaskScheduledEventAttributes!.input!.payloads!.map((p) => defaultPayloadConverter.fromPayload<{ salt: string; token?: string }>(p));
      expect(coordinatorInput.token).toBeUndefined();
      expect(typeof coordinatorInput.salt).toBe('string');
      const secrets = [s3.secretKey, dataPlaneKey, deriveToken(Buffer.from(dataPlaneKey), coordinatorInput.salt)];
      const outputs = [...workers, added, submitter].flatMap((c) => [c.output().stdout, c.output().stderr]);
      for (const secret of secrets) for (const text of outputs) expect(text).not.toContain(secret);
      for (const key of await store.list(runLayout(runId).root)) {
        const text = Buffer.from(await store.get(key)).toString('latin1');
        for (const secret of secrets) expect(text.includes(secret) ? key : undefined).toBeUndefined();
      }
    } finally {
      await Promise.all([...workers, ...(added ? [added] : []), submitter].map((c) => stopChild(c)));
    }
  });
});
