/**
 * @jest-environment ./test/support/node-realm-environment.js
 *
 * The elastic-training workflow on a real dev server, with its real coordinator and participant
 * activities in an in-process worker (the data plane over loopback HTTP, a local artifact store):
 *
 * - Nothing in Temporal's history grants access to the data plane: the activities' inputs carry a
 *   per-training salt and no token, and the token derived from it appears neither in the history
 *   nor in any artifact.
 * - Learning rate 10 on a small CNN (which once finished with exit 0 and accuracy 0.1, its weights
 *   all NaN) fails the stage on the coordinator's first attempt with a non-retryable
 *   TrainingDivergedError that names the stage, the step and the worker; no model is exported and
 *   every checkpoint written holds finite weights. The same through the compiled CLI
 *   (`npm run build` first): `nas run --workers 2` exits 1 saying so, where it exited 0.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, Client, Connection, WorkflowFailedError, defaultPayloadConverter } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../../artifacts';
import { elasticCoordinator, elasticParticipant } from '../../activities/elastic-training';
import { runLayout } from '../../core/run-layout';
import { ElasticTrainingSchema } from '../../dsl/stages';
import { DATA_PLANE_KEY_ENV, deriveToken } from '../../engine/elastic/auth';
import { decodeCheckpoint, disposeCheckpoint } from '../../engine/train/checkpoint';
import { firstNonFinite } from '../../engine/train/divergence';
import { startTemporalDevServer, type DevServer } from '../../infra/temporal-dev-server';
import { elasticTrainingWorkflow, type ElasticTrainingWorkflowInput } from '../../workflows/elastic-training';
import { cleanEnv, runCli } from './support/cli';
import { writeFashionSubset } from './support/fashion-subset';

jest.setTimeout(300_000);

const root = mkdtempSync(join(tmpdir(), 'nas-elastic-divergence-'));
const KEY = 'test-installation-key-'.padEnd(64, 'x');
const QUEUE = 'elastic-divergence';

let server: DevServer;
let connection: Connection;
let workerConnection: NativeConnection;
let previousKey: string | undefined;

beforeAll(async () => {
  previousKey = process.env[DATA_PLANE_KEY_ENV];
  process.env[DATA_PLANE_KEY_ENV] = KEY;
  server = await startTemporalDevServer({ workDir: join(root, 'temporal'), ui: false });
  connection = await Connection.connect({ address: server.address });
  workerConnection = await NativeConnection.connect({ address: server.address });
});

afterAll(async () => {
  await workerConnection?.close();
  await connection?.close();
  await server?.stop();
  if (previousKey === undefined) delete process.env[DATA_PLANE_KEY_ENV];
  else process.env[DATA_PLANE_KEY_ENV] = previousKey;
  rmSync(root, { recursive: true, force: true });
});

const dataDir = () => writeFashionSubset(join(root, 'fashion'), 512, 64);

function input(runId: string, learningRate: number): ElasticTrainingWorkflowInput {
  return {
    runId,
    stage: 'elastic/small-cnn',
    artifactLocation: join(root, 'artifacts'),
    seed: 3,
    // The healthy run trains on 128 images (2 steps of 2 x 32), the diverging one on 512.
    dataset: { name: 'fashion-mnist', path: dataDir(), resolution: 28, validationFraction: 0, ...(learningRate > 1 ? {} : { trainSubset: 128 }) },
    elastic: ElasticTrainingSchema.parse({
      policy: 'dynamic-sgd',
      windowIterations: 20,
      perWorkerBatch: 32,
      workers: { min: 2, max: 2 },
      epochs: 1,
      learningRate,
      checkpointEverySteps: 2,
      heartbeatTimeoutSeconds: 30,
      stepTimeoutSeconds: 30,
    }),
    model: { kind: 'small-cnn', filters: 16 },
    participantQueue: `${QUEUE}-elastic`,
  };
}

/** Runs the workflow with a main-queue worker (workflow + coordinator) and a two-slot elastic one. */
async function run(workflowId: string, args: ElasticTrainingWorkflowInput): Promise<{ outcome: unknown; history: temporal.api.history.v1.IHistory }> {
  const main = await Worker.create({
    connection: workerConnection,
    taskQueue: QUEUE,
    workflowsPath: require.resolve('../../workflows/elastic-training'),
    activities: { elasticCoordinator },
  });
  const slots = await Worker.create({ connection: workerConnection, taskQueue: args.participantQueue, activities: { elasticParticipant }, maxConcurrentActivityTaskExecutions: 2 });
  const client = new Client({ connection });
  const outcome = await main.runUntil(slots.runUntil(client.workflow.execute(elasticTrainingWorkflow, { workflowId, taskQueue: QUEUE, args: [args] }).catch((e: unknown) => e)));
  return { outcome, history: await client.workflow.getHandle(workflowId).fetchHistory() };
}

function scheduledInputs(history: temporal.api.history.v1.IHistory): { type: string; input: Record<string, unknown> }[] {
  return (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => ({
      type: e.activityTaskScheduledEventAttributes!.activityType!.name!,
      input: defaultPayloadConverter.fromPayload<Record<string, unknown>>(e.activityTaskScheduledEventAttributes!.input!.payloads![0]),
    }));
}

test('the history holds a salt per training and no token; the token appears in no artifact', async () => {
  const args = input('healthy', 0.05);
  const { outcome, history } = await run('healthy.elastic', args);
  expect(outcome).toMatchObject({ steps: 2, epochs: 1 });
  const inputs = scheduledInputs(history);
  expect(inputs.map((i) => i.type).sort()).toEqual(['elasticCoordinator', 'elasticParticipant', 'elasticParticipant']);
  const salts = new Set(inputs.map((i) => i.input.salt));
  expect(salts.size).toBe(1);
  const [salt] = [...salts] as string[];
  expect(typeof salt).toBe('string');
  for (const i of inputs) expect(Object.keys(i.input)).not.toContain('token');
  const token = deriveToken(Buffer.from(KEY), salt);
  // Every byte string and string anywhere in the history's events, payloads decoded.
  const texts: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) texts.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'string') texts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(history.events);
  const all = texts.join('\n');
  expect(all.includes(salt)).toBe(true);
  expect(all.includes(token)).toBe(false);
  const store = new LocalArtifactStore(args.artifactLocation);
  for (const key of await store.list(runLayout(args.runId).root)) expect(Buffer.from(await store.get(key)).toString('latin1').includes(token) ? key : undefined).toBeUndefined();
});

test('learning rate 10 on a small CNN fails the stage at once, naming the step and the worker; no model, no non-finite checkpoint', async () => {
  const args = input('diverges', 10);
  const { outcome, history } = await run('diverges.elastic', args);
  expect(outcome).toBeInstanceOf(WorkflowFailedError);
  const failure = (outcome as WorkflowFailedError).cause?.cause;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  const cause = failure as ApplicationFailure;
  expect(cause.type).toBe('TrainingDivergedError');
  expect(cause.nonRetryable).toBe(true);
  expect(cause.message).toMatch(/^stage elastic\/small-cnn: elastic training diverged at step \d+: worker [^ ]+:\d+ computed (loss|a gradient|BatchNorm statistics)/);
  // One attempt of the coordinator: a divergence is not retried.
  const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt === 1);
  const retried = (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
  expect(started.length).toBeGreaterThan(0);
  expect(retried).toEqual([]);
  const store = new LocalArtifactStore(args.artifactLocation);
  const keys = runLayout(args.runId).elastic(args.stage);
  expect(await store.head(keys.modelJson)).toBeUndefined();
  expect(await store.head(keys.metrics)).toBeUndefined();
  for (const key of await store.list(keys.checkpoints)) {
    const contents = decodeCheckpoint(await store.get(key));
    try {
      for (const group of Object.values(contents.groups)) for (const t of group) expect({ key, name: t.name, firstNonFinite: firstNonFinite(t.tensor.dataSync()) }).toEqual({ key, name: t.name, firstNonFinite: -1 });
    } finally {
      disposeCheckpoint(contents);
    }
  }
});

test('the CLI: nas run of a diverging elastic stage exits 1 with the stage, step and worker, and exports no model', async () => {
  const workDir = join(root, 'cli-work');
  const file = join(root, 'diverges.yaml');
  writeFileSync(
    file,
    `version: 1
name: diverges
seed: 3
dataset: { name: fashion-mnist, path: ${dataDir()} }
stages:
  elasticTraining:
    learningRate: 10
    perWorkerBatch: 32
    workers: { min: 2, max: 2 }
    epochs: 1
    checkpointEverySteps: 2
`,
  );
  const result = await runCli(['run', file, '--run-id', 'diverges-cli', '--work-dir', workDir, '--workers', '2'], cleanEnv(), 240_000);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/run diverges-cli failed: stage elastic\/small-cnn: elastic training diverged at step \d+: worker [^ ]+:\d+ computed .*; lower the learning rate/);
  const stage = join(workDir, 'artifacts', runLayout('diverges-cli').elastic('elastic/small-cnn').base);
  expect(existsSync(join(stage, 'model'))).toBe(false);
  expect(readdirSync(stage)).not.toContain('metrics.json');
});
