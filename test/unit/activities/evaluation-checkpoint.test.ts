/**
 * Which stored evaluation checkpoint a retry resumes: only one of the same export and test split.
 * An unreadable or foreign one is set aside with a warning naming it, and the model is evaluated
 * from the start (nothing is lost but time). Local store, Temporal's mock activity environment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { openArtifactStore, putJson, type ArtifactStore } from '../../../artifacts';
import { readEvaluationCheckpoint, type EvaluationCheckpoint, type ModelToEvaluate } from '../../../activities/evaluate-model';

const KEY = 'runs/r/evaluation/checkpoints/train.json';
const MODEL: ModelToEvaluate = { id: 'train', role: 'trained', label: 'x', modelKey: 'runs/r/train/model/model.json', modelWeightsKey: 'runs/r/train/model/weights.bin' };
const SAVED: EvaluationCheckpoint = {
  format: 'nas-evaluation-checkpoint/1',
  modelKey: MODEL.modelKey,
  modelWeightsKey: MODEL.modelWeightsKey,
  testCount: 100,
  tally: { done: 40, correctPerClass: [20, 10], totalPerClass: [25, 15], lossSum: 12.5 },
  measurements: {},
};

let root: string;
let store: ArtifactStore;
let warnings: string[];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'nas-eval-checkpoint-'));
  store = openArtifactStore(root);
  warnings = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function read(model = MODEL, testCount = 100): Promise<EvaluationCheckpoint | undefined> {
  const logger = new DefaultLogger('WARN', (entry) => void warnings.push(entry.message));
  return new MockActivityEnvironment(undefined, { logger }).run(() => readEvaluationCheckpoint(store, KEY, model, testCount));
}

it('resumes a checkpoint of the same export and test split', async () => {
  expect(await read()).toBeUndefined();
  await putJson(store, KEY, SAVED);
  expect(await read()).toEqual(SAVED);
  expect(warnings).toEqual([]);
});

it.each([
  ['another export', { modelWeightsKey: 'runs/r/other/weights.bin' }, 100],
  ['another test split', {}, 250],
  ['another format', { format: 'nas-evaluation-checkpoint/0' }, 100],
  ['a tally past the split', { tally: { ...SAVED.tally, done: 101 } }, 100],
])('sets aside one of %s, saying so', async (_what, change, testCount) => {
  await putJson(store, KEY, { ...SAVED, ...change });
  expect(await read(MODEL, testCount)).toBeUndefined();
  expect(warnings).toEqual([`evaluation checkpoint ${KEY} is of another export or test split; evaluating train from the start`]);
});

it('sets aside an unreadable one, naming it and why', async () => {
  await store.put(KEY, '{"format": "nas-evaluation-checkpoint/1", "tally": ');
  expect(await read()).toBeUndefined();
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(new RegExp(`^evaluation checkpoint ${KEY} is unreadable \\(.+\\); evaluating train from the start$`));
});
