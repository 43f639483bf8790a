/**
 * The scaling trial activity under Temporal's mock activity environment (no server): it trains a
 * tiny baseline scaled at phi = 1 on a 64-image Fashion-MNIST cut, stores the result under the
 * point's key, and a retry of the same point returns the stored result without training again
 * (no heartbeats, identical trainSeconds). A trial cancelled midway resumes from its newest
 * checkpoint and ends where an uninterrupted one does; an attempt that outlived its retry removes its
 * own checkpoint. scaledArchitectures writes one arch.json per phi.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { getJson, openArtifactStore, putJson } from '../../../artifacts';
import { SHORT_RUN_BATCH_NORM, TrialAlreadyStoredError, trainBriefly, type BriefTrainingOptions } from '../../../activities/brief-training';
import { datasetFor } from '../../../activities/context';
import { runLayout } from '../../../core/run-layout';
import { pointLabel } from '../../../core/scaling-grid';
import { scaledArchitectures, scalingTrial, type ScaledArchitecture, type ScaledArchitecturesInput, type ScalingTrialInput, type ScalingTrialResult } from '../../../activities/scaling-trial';
import { decodeBlock } from '../../../engine/arch/block-string';
import { parseArch } from '../../../engine/arch/catalog';
import { writeFashionSubset } from '../../integration/support/fashion-subset';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nas-scaling-trial-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TINY = {
  name: 'tiny',
  resolution: 28,
  inputChannels: 1,
  numClasses: 10,
  stem: { channels: 8, kernel: 3, stride: 2 as const },
  blocks: ['e1_k3_s1_c8', 'e2_k3_s2_c16_se0.25'].map(decodeBlock),
  headChannels: null,
};

// MockActivityEnvironment.run cannot infer the activity's result type; these restore it.
const runTrial = (env: MockActivityEnvironment, i: ScalingTrialInput) => env.run(scalingTrial, i) as Promise<ScalingTrialResult>;
const runScaled = (env: MockActivityEnvironment, i: ScaledArchitecturesInput) => env.run(scaledArchitectures, i) as Promise<ScaledArchitecture[]>;

function input(): ScalingTrialInput {
  return {
    runId: 'scaling-test',
    artifactLocation: join(root, 'artifacts'),
    seed: 3,
    dataset: { name: 'fashion-mnist', path: join(root, 'data'), resolution: 28, validationFraction: 0.25 },
    baseline: { arch: TINY },
    point: { alpha: 1.2, beta: 1.1, gamma: 1.15 },
    epochs: 1,
    batchSize: 16,
    learningRate: 0.05,
    pluginFiles: [],
  };
}

test('a retried trial returns the stored result and does not train again', async () => {
  writeFashionSubset(join(root, 'data'), 64, 16);
  const beats: unknown[] = [];
  const env = new MockActivityEnvironment();
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const first = await runTrial(env, input());
  expect(beats.length).toBeGreaterThan(0);
  // 28 * 1.15 = 32.2 -> 32 px; depth 1.2 deepens both 1-block stages to 2; width 1.1 keeps 8 and 16.
  expect(first.resolution).toBe(32);
  expect(first.blocks).toEqual(['e1_k3_s1_c8_r2', 'e2_k3_s2_c16_se0.25_r2']);
  expect(first.macs).toBeGreaterThan(0);
  expect(first.validationAccuracy).toBeGreaterThanOrEqual(0);

  const store = openArtifactStore(input().artifactLocation);
  const key = runLayout('scaling-test').scaling.trial(pointLabel(input().point));
  expect(key).toBe('runs/scaling-test/scaling/trials/1.2_1.1_1.15.json');
  const before = await store.list('runs/scaling-test/scaling/trials/');

  const retryBeats: unknown[] = [];
  const retryEnv = new MockActivityEnvironment();
  retryEnv.on('heartbeat', (d: unknown) => retryBeats.push(d));
  const second = await runTrial(retryEnv, input());
  expect(second).toEqual(first);
  expect(retryBeats).toEqual([]);
  expect(await store.list('runs/scaling-test/scaling/trials/')).toEqual(before);
});

test('a trial stopped midway resumes from its newest checkpoint, ends as an uninterrupted one does, and leaves no checkpoints', async () => {
  writeFashionSubset(join(root, 'data'), 64, 16);
  // 48 training images in batches of 16: 3 steps per epoch, 6 in all, a checkpoint every 2.
  const trial = (runId: string): ScalingTrialInput => ({ ...input(), runId, epochs: 2, checkpointEverySteps: 2 });
  const store = openArtifactStore(input().artifactLocation);
  const checkpointsOf = (runId: string) => store.list(runLayout(runId).scaling.trialCheckpoints(pointLabel(input().point)));

  const whole = await runTrial(new MockActivityEnvironment(), trial('resume-whole'));
  expect(await checkpointsOf('resume-whole')).toEqual([]);

  // Stopped once the checkpoint at step 4 is written, as a worker whose activity was cancelled.
  const stopped = new MockActivityEnvironment();
  stopped.on('heartbeat', (d: { step?: number; checkpointKey?: string }) => {
    if (d.checkpointKey?.endsWith('step-000000004.ckpt')) stopped.cancel();
  });
  await expect(runTrial(stopped, trial('resume-cut'))).rejects.toThrow();
  expect(await checkpointsOf('resume-cut')).toContain(`${runLayout('resume-cut').scaling.trialCheckpoints(pointLabel(input().point))}step-000000004.ckpt`);
  expect(await store.head(runLayout('resume-cut').scaling.trial(pointLabel(input().point)))).toBeUndefined();

  const beats: { step: number; totalSteps: number; checkpointKey?: string }[] = [];
  const retry = new MockActivityEnvironment();
  retry.on('heartbeat', (d: (typeof beats)[number]) => beats.push(d));
  const resumed = await runTrial(retry, trial('resume-cut'));
  expect(beats[0].step).toBeGreaterThanOrEqual(4);
  expect(beats[0].checkpointKey).toMatch(/step-\d{9}\.ckpt$/);
  expect(beats.at(-1)!.step).toBe(6);
  // Exact resume: weights, optimizer state and data order come back, so the result is the same.
  expect(resumed.validationAccuracy).toBe(whole.validationAccuracy);
  expect({ ...resumed, trainSeconds: 0, fitSeconds: 0, archKey: '' }).toEqual({ ...whole, trainSeconds: 0, fitSeconds: 0, archKey: '' });
  expect(await checkpointsOf('resume-cut')).toEqual([]);
});

test('scaledArchitectures writes one arch.json per phi, growing with phi', async () => {
  const env = new MockActivityEnvironment();
  const { runId, artifactLocation, seed, dataset, baseline } = input();
  const scaled = await runScaled(env, { runId, artifactLocation, seed, dataset, baseline, coefficients: { alpha: 1.2, beta: 1.1, gamma: 1.15 }, phis: [1, 2] });
  expect(scaled.map((s) => s.archKey)).toEqual(['runs/scaling-test/scaling/phi-1.arch.json', 'runs/scaling-test/scaling/phi-2.arch.json']);
  expect(scaled[1].macs).toBeGreaterThan(scaled[0].macs);
  const store = openArtifactStore(artifactLocation);
  const arch = parseArch(JSON.parse(Buffer.from(await store.get(scaled[1].archKey)).toString('utf8')), 'phi-2');
  expect(arch.resolution).toBe(scaled[1].resolution);
});

test('an attempt that wakes after its retry stored the result stops at its next checkpoint and leaves no checkpoint behind', async () => {
  writeFashionSubset(join(root, 'data'), 64, 16);
  const store = openArtifactStore(input().artifactLocation);
  const prefix = 'runs/zombie/trial/checkpoints/';
  const resultKey = 'runs/zombie/trial.json';
  // The retry finished while this attempt was frozen (past its storedOnce check, before its first checkpoint).
  await putJson(store, resultKey, { validationAccuracy: 0.5 });
  const beats: { step: number }[] = [];
  const env = new MockActivityEnvironment();
  env.on('heartbeat', (d: { step: number }) => beats.push(d));
  const options: BriefTrainingOptions = {
    epochs: 2,
    batchSize: 16,
    learningRate: 0.05,
    seed: 3,
    validationFraction: 0.25,
    pluginFiles: [],
    label: { trial: 'zombie' },
    checkpoints: { store, prefix, everySteps: 2, resultKey },
  };
  const arch = { ...parseArch(TINY, 'tiny'), batchNorm: SHORT_RUN_BATCH_NORM };
  await expect(env.run(trainBriefly, arch, datasetFor(input().dataset, 3), options)).rejects.toThrow(TrialAlreadyStoredError);
  expect(Math.max(...beats.map((b) => b.step))).toBeLessThan(6); // it stopped, rather than training to the end
  expect(await store.list(prefix)).toEqual([]);
  expect(await getJson(store, resultKey)).toEqual({ validationAccuracy: 0.5 });
});
