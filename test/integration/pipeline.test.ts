/**
 * The pipeline on the real stack: the Temporal CLI's dev server, MinIO on loopback, the native
 * TensorFlow backend, and the compiled `nas` CLI in child processes, the way users run it.
 */
import { mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/client';
import { LocalArtifactStore, getJson } from '../../artifacts';
import type { TrainProgress } from '../../activities/train-classifier';
import { runLayout } from '../../core/run-layout';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, waitFor } from './support/cli';
import { writeFashionSubset } from './support/fashion-subset';
import { startClusterServices, type ClusterServices } from './support/cluster';
import { freePort } from '../../infra/free-port';

jest.setTimeout(600_000);

const root = mkdtempSync(join(tmpdir(), 'nas-pipeline-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), 6000, 2000);

function pipelineYaml(opts: { name: string; location: string; checkpointEvery?: number; heartbeat?: number; epochs?: number; extra?: string }): string {
  return `${opts.extra ?? ''}
version: 1
name: ${opts.name}
seed: 3
dataset:
  name: fashion-mnist
  path: ${dataDir}
artifacts:
  location: ${opts.location}
stages:
  train:
    model: { kind: small-cnn, filters: 16 }
    epochs: ${opts.epochs ?? 1}
    batchSize: 64
    learningRate: 0.002
    checkpointEverySteps: ${opts.checkpointEvery ?? 20}
    heartbeatTimeoutSeconds: ${opts.heartbeat ?? 30}
`;
}

function writePipeline(name: string, text: string): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('nas run, embedded (no TEMPORAL_ADDRESS)', () => {
  test('starts its own Temporal dev server, trains, measures on each target (one a freshly scaffolded plugin), prints test accuracy', async () => {
    // The plugin path: scaffold with ts-morph, pass the static checks, declare it, use it in the run.
    const scaffolded = await runCli(['plugin', 'new', 'hardware-target', 'weights-meter', '--dir', root], cleanEnv());
    expectExitedZero(scaffolded);
    const checked = await runCli(['plugin', 'check', join(root, 'weights-meter', 'index.ts')], cleanEnv());
    expect(checked.stdout).toContain('ok (hardware target weights-meter 0.1.0)');
    expectExitedZero(checked);

    const workDir = join(root, 'embedded-work');
    const artifacts = join(root, 'embedded-artifacts');
    const extra = `plugins: [./weights-meter]
hardwareTargets:
  meter: { plugin: weights-meter, config: { msPerMegabyte: 2 } }
  this-cpu: { plugin: node-cpu, config: { warmupRuns: 2, repeats: 5 } }`;
    const file = writePipeline('embedded', pipelineYaml({ name: 'embedded', location: artifacts, extra }));
    const result = await runCli(['run', file, '--work-dir', workDir, '--run-id', 'embedded-1'], cleanEnv());
    expect(result.stderr).not.toMatch(/Error/);
    expectExitedZero(result);
    const accuracy = Number(/test accuracy: ([\d.]+)/.exec(result.stdout)?.[1]);
    // 94 steps on 6000 images: well above chance (0.1), below the full-data figure.
    expect(accuracy).toBeGreaterThan(0.6);
    expect(result.stdout).toMatch(/started dev server at 127\.0\.0\.1:\d+/);
    expect(existsSync(join(workDir, 'temporal.db'))).toBe(true);
    expect(existsSync(join(artifacts, 'runs/embedded-1/train/model/model.json'))).toBe(true);
    expect(existsSync(join(artifacts, 'runs/embedded-1/train/metrics.json'))).toBe(true);
    // The scaffolded plugin charges 2 ms per megabyte of weights; the stored file's header line is not weights.
    const weights = await new LocalArtifactStore(artifacts).get('runs/embedded-1/train/model/weights.bin');
    const meter = /latency on meter \(weights-meter\): median ([\d.]+) ms/.exec(result.stdout);
    expect(Number(meter?.[1])).toBeCloseTo((weights.byteLength / 1e6) * 2, 3);
    expect(result.stdout).toMatch(/latency on this-cpu \(node-cpu\): median [\d.]+ ms, p90 [\d.]+ ms/);
    // The server is stopped when the run ends; its state file goes with it.
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
  });

  test('an invalid pipeline file is reported with its line and starts nothing', async () => {
    const workDir = join(root, 'invalid-work');
    const file = writePipeline('invalid', pipelineYaml({ name: 'invalid', location: join(root, 'x') }).replace('epochs: 1', 'epochs: -1'));
    const result = await runCli(['run', file, '--work-dir', workDir], cleanEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: stages\\.train\\.epochs: `));
    expect(existsSync(join(workDir, 'temporal.db'))).toBe(false);
  });

  test('what this version cannot run is refused up front, not silently skipped', async () => {
    const workDir = join(root, 'search-work');
    // An EfficientNet reference needs the elastic stage's training; the train stage makes small CNNs only.
    const text = `${pipelineYaml({ name: 'refused', location: join(root, 'refused-artifacts') })}  evaluation:\n    referenceModels: [efficientnet-b1]\n`;
    const result = await runCli(['run', writePipeline('refused', text), '--work-dir', workDir], cleanEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('stages.evaluation.referenceModels: efficientnet-b1');
    expect(result.stderr).toContain('nothing was started');
    expect(existsSync(join(workDir, 'temporal.db'))).toBe(false);
  });

  test('a dead TEMPORAL_ADDRESS gives a clear error and a non-zero exit', async () => {
    const port = await freePort();
    const file = writePipeline('dead', pipelineYaml({ name: 'dead', location: join(root, 'dead-artifacts') }));
    const result = await runCli(['run', file], cleanEnv({ TEMPORAL_ADDRESS: `127.0.0.1:${port}` }), 60_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach Temporal at 127.0.0.1:${port}`);
  });
});

describe('cluster mode: nas worker processes against a real dev server, artifacts in MinIO', () => {
  let cluster: ClusterServices;
  const bucket = 'nas-it';

  beforeAll(async () => {
    cluster = await startClusterServices(root, bucket);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  test('SIGKILL of the worker mid-training: a new worker finishes the run from the last checkpoint', async () => {
    const location = `s3://${bucket}/cluster`;
    const runId = 'killed-1';
    const env = cluster.env('it-cluster');
    const store = cluster.store(location);
    const { client } = cluster;

    const first = startCli(['worker', '--identity', 'first'], env);
    // Submitted through the CLI, as a user would: with TEMPORAL_ADDRESS set it only submits and waits.
    const file = writePipeline('killed', pipelineYaml({ name: 'killed', location, checkpointEvery: 20, heartbeat: 5, epochs: 2 }));
    const submitter = startCli(['run', file, '--run-id', runId], env);
    // Listen now: the submitter exits as soon as the workflow completes, maybe before we look.
    const submitterExit = new Promise<number | null>((resolve) => submitter.once('close', resolve));
    const handle = client.workflow.getHandle(runId);

    // Kill once the heartbeat names a checkpoint at step 40 or later, i.e. well inside the activity.
    const progress = await waitFor(
      'a heartbeat naming a checkpoint at step >= 40',
      async () => {
        const child = await client.workflow.getHandle(`${runId}.train`).describe();
        const payload = child.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
        const details = payload ? defaultPayloadConverter.fromPayload<TrainProgress>(payload) : undefined;
        return details?.checkpointKey && details.step >= 40 ? details : undefined;
      },
      240_000,
      100,
    );
    first.kill('SIGKILL');
    expect(progress.checkpointKey).toMatch(/^runs\/killed-1\/train\/checkpoints\/step-\d{9}\.ckpt$/);
    expect(progress.totalSteps).toBe(2 * Math.ceil(6000 / 64));
    const lastCheckpointStep = Number(/step-(\d+)/.exec(progress.checkpointKey!)![1]);
    expect(await store.head(progress.checkpointKey!)).toBeDefined();

    const second = startCli(['worker', '--identity', 'second'], env);
    try {
      const result = await handle.result();
      expect(result.train).toBeDefined();
      const train = result.train!;
      // Resumed from a checkpoint at or after the one seen before the kill, never from scratch.
      expect(train.resumedFromStep).toBeGreaterThanOrEqual(lastCheckpointStep);
      expect(train.resumedFromStep % 20).toBe(0);
      expect(train.attempt).toBeGreaterThanOrEqual(2);
      expect(train.steps).toBe(2 * Math.ceil(6000 / 64));
      expect(train.testAccuracy).toBeGreaterThan(0.6);
      const metrics = await getJson<{ testAccuracy: number }>(store, train.metricsKey);
      expect(metrics.testAccuracy).toBe(train.testAccuracy);
      expect(await store.head(train.modelKey)).toBeDefined();
      // Old checkpoints are pruned: the final one and the one before it remain.
      const left = (await store.list(runLayout(runId).training('train').checkpoints)).filter((k) => k.endsWith('.ckpt'));
      expect(left.length).toBeLessThanOrEqual(2);
      // The submitting `nas run` saw the whole story and reports it.
      expect(await submitterExit).toBe(0);
      expect(submitter.output().stdout).toContain(`training resumed from step ${train.resumedFromStep} after an interruption`);
      expect(submitter.output().stdout).toContain(`test accuracy: ${train.testAccuracy.toFixed(4)}`);
    } finally {
      await stopChild(second);
      await stopChild(first);
    }
  });

});
