/**
 * The supernet epoch activity under Temporal's mock activity environment (no server) resolves its
 * one-shot strategy by name, as a worker does: a built-in, a user strategy from the pipeline's
 * plugin files (the Gumbel-softmax fixture), and an input recorded before strategies were plugins,
 * which named a built-in in `mode` and carried no plugin files. Wrong names and configs fail the
 * run instead of being retried.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { openArtifactStore } from '../../../artifacts';
import { supernetEpoch, type RecordedSupernetEpochInput, type SupernetEpochInput, type SupernetEpochMetrics } from '../../../activities/supernet-epoch';
import { runLayout } from '../../../core/run-layout';
import { decodeCheckpoint, disposeCheckpoint } from '../../../engine/train/checkpoint';
import { writeFashionSubset } from '../../integration/support/fashion-subset';
import { space } from '../../support/supernet-fixtures';

const GUMBEL = join(__dirname, '../..', 'fixtures', 'plugins', 'gumbel-softmax.ts');

// Made at load time: the failure table below builds its inputs before any hook runs.
const root = mkdtempSync(join(tmpdir(), 'nas-one-shot-activity-'));
beforeAll(() => writeFashionSubset(join(root, 'data'), 64, 16));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// MockActivityEnvironment.run cannot infer the activity's result type; this restores it.
const runEpoch = (input: SupernetEpochInput | RecordedSupernetEpochInput) => new MockActivityEnvironment().run(supernetEpoch, input) as Promise<SupernetEpochMetrics>;

/** One epoch of 3 weight steps (48 training images, batches of 16), each followed by an architecture step. */
function input(runId: string, strategy: string, o: Partial<SupernetEpochInput> = {}): SupernetEpochInput {
  return {
    runId,
    artifactLocation: join(root, 'artifacts'),
    seed: 4,
    dataset: { name: 'fashion-mnist', path: join(root, 'data'), resolution: 28, validationFraction: 0.25 },
    space,
    strategy,
    pluginFiles: [],
    epoch: 0,
    epochs: 1,
    warmupEpochs: 0,
    batchSize: 16,
    learningRate: 0.05,
    strategyConfig: {},
    latencyWeight: 0,
    checkpointEverySteps: 2,
    ...o,
  };
}

/** Name and logits of the strategy state in the checkpoint an epoch left. */
async function checkpointedStrategy(m: SupernetEpochMetrics): Promise<{ name: string | undefined; logits: number[][] }> {
  const contents = decodeCheckpoint<{ strategy: { name: string } | null; architecture: { logits: number[][] } }>(await openArtifactStore(join(root, 'artifacts')).get(m.checkpointKey));
  disposeCheckpoint(contents);
  return { name: contents.meta.strategy?.name, logits: contents.meta.architecture.logits };
}

const sameSearch = (m: SupernetEpochMetrics) => ({ steps: m.steps, meanLoss: m.meanLoss, meanEntropy: m.meanEntropy, blocks: m.blocks, choices: m.choices, validationAccuracy: m.validationAccuracy });

test('an input recorded with the old `mode` field runs the same search as one naming the strategy', async () => {
  const { strategy: _strategy, pluginFiles: _files, ...rest } = input('recorded', 'proxyless-reinforce', { strategyConfig: { archLearningRate: 0.05 } });
  const recorded: RecordedSupernetEpochInput = { ...rest, mode: 'proxyless-reinforce' };
  const old = await runEpoch(recorded);
  const today = await runEpoch(input('today', 'proxyless-reinforce', { strategyConfig: { archLearningRate: 0.05 } }));
  expect(sameSearch(today)).toEqual(sameSearch(old));
  expect(old.steps).toBe(3);
  const saved = await checkpointedStrategy(old);
  expect(saved.name).toBe('proxyless-reinforce');
  expect(saved.logits.flat().some((a) => a !== 0)).toBe(true);
});

test('a user strategy from the pipeline plugin files trains the supernet with its own rule', async () => {
  const m = await runEpoch(input('gumbel', 'gumbel-softmax', { pluginFiles: [GUMBEL], strategyConfig: { learningRate: 1 } }));
  expect(m.steps).toBe(3);
  expect(m.choices).toHaveLength(4);
  expect(m.checkpointKey.startsWith(runLayout('gumbel').search.checkpoints)).toBe(true);
  const saved = await checkpointedStrategy(m);
  expect(saved.name).toBe('gumbel-softmax');
  expect(saved.logits.flat().some((a) => a !== 0)).toBe(true);
});

test.each([
  ['a user strategy without its plugin file', input('missing', 'gumbel-softmax'), 'PluginLoadError', /search strategy "gumbel-softmax" is not registered on this worker \(one-shot strategies here: proxyless-gradient, proxyless-reinforce\)/],
  ['a multi-trial strategy', input('multi', 'random'), 'PluginLoadError', /"random" is a multi-trial strategy; the supernet search needs a one-shot one/],
  ['a config its schema rejects', input('config', 'proxyless-gradient', { strategyConfig: { sampledPaths: 1 } }), 'OneShotStrategyError', /"proxyless-gradient" 0\.2\.0 has an invalid config: sampledPaths/],
])('%s fails the run without retries', async (_what, bad, type, message) => {
  const failure = await runEpoch(bad).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect(failure).toMatchObject({ type, nonRetryable: true });
  expect((failure as Error).message).toMatch(message);
});

test('a corrupt checkpoint at an epoch boundary falls back to the one before it: the epoch ends as an undisturbed one does', async () => {
  const clean = input('boundary-clean', 'proxyless-gradient', { epochs: 2 });
  await runEpoch({ ...clean, epoch: 0 });
  const undisturbed = await runEpoch({ ...clean, epoch: 1 });

  const faulty = input('boundary-corrupt', 'proxyless-gradient', { epochs: 2 });
  const first = await runEpoch({ ...faulty, epoch: 0 });
  // Epoch 0 ends at step 3 with its checkpoint; the one at step 2 is kept as the spare.
  expect(first.checkpointKey).toBe(runLayout('boundary-corrupt').search.checkpoint(3));
  const file = join(root, 'artifacts', first.checkpointKey);
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);

  const resumed = await runEpoch({ ...faulty, epoch: 1 });
  // Steps 2-3 were trained again from the spare: epoch 1 still starts from the same supernet.
  expect(resumed.resumedFromStep).toBe(2);
  expect(sameSearch(resumed)).toEqual(sameSearch(undisturbed));
});
