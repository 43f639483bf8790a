/**
 * The keys of a run as they are on disk and in recorded histories: spelled out here, apart from
 * core/run-layout.ts, so that a change to the layout (which would strand every stored run and
 * break replays) fails a test instead of passing unnoticed.
 */
import { checkpointKey, checkpointStep, isCheckpointKey, runLayout } from '../../../core/run-layout';

const run = runLayout('r1');

test('the run folder and its own files', () => {
  expect(run.root).toBe('runs/r1/');
  expect(run.pipeline).toBe('runs/r1/pipeline.json');
  expect(run.plugins).toBe('runs/r1/plugins.json');
  expect(run.report).toEqual({ prefix: 'runs/r1/report/', html: 'runs/r1/report/report.html', json: 'runs/r1/report/report.json' });
});

test('a training stage', () => {
  const t = run.training('train');
  expect([t.base, t.checkpoints, t.checkpoint(40), t.modelJson, t.modelWeights, t.metrics, t.latency('cpu')]).toEqual([
    'runs/r1/train',
    'runs/r1/train/checkpoints/',
    'runs/r1/train/checkpoints/step-000000040.ckpt',
    'runs/r1/train/model/model.json',
    'runs/r1/train/model/weights.bin',
    'runs/r1/train/metrics.json',
    'runs/r1/train/latency/cpu.json',
  ]);
  expect(run.trainingOfMetrics('runs/r1/elastic/phi-1/metrics.json')).toBe('elastic/phi-1');
  expect(run.trainingOfMetrics('runs/r1/train/metrics.json')).toBe('train');
  expect(run.trainingOfMetrics('runs/r10/train/metrics.json')).toBeUndefined();
  expect(run.trainingOfMetrics('runs/r1/train/model/model.json')).toBeUndefined();
});

test('an elastic training', () => {
  expect(run.elasticStage('phi-1')).toBe('elastic/phi-1');
  const e = run.elastic(run.elasticStage('phi-1'));
  expect([e.coordinator, e.logPrefix, e.log(120), e.coverage(2), e.checkpoint(7), e.modelJson]).toEqual([
    'runs/r1/elastic/phi-1/coordinator.json',
    'runs/r1/elastic/phi-1/log/',
    'runs/r1/elastic/phi-1/log/steps-000000120.json',
    'runs/r1/elastic/phi-1/coverage/epoch-0002.json',
    'runs/r1/elastic/phi-1/checkpoints/step-000000007.ckpt',
    'runs/r1/elastic/phi-1/model/model.json',
  ]);
  expect(run.elasticTrainings).toBe('runs/r1/elastic/');
});

test('the search', () => {
  const s = run.search;
  expect([s.base, s.checkpoints, s.checkpoint(85), s.epochs, s.epoch(1), s.derived, s.summary, s.bandTrials, s.trials, s.trial(3), s.trialArch(3), s.trialCheckpoints(3)]).toEqual([
    'runs/r1/search',
    'runs/r1/search/supernet/',
    'runs/r1/search/supernet/step-000000085.ckpt',
    'runs/r1/search/epochs/',
    'runs/r1/search/epochs/epoch-0001.json',
    'runs/r1/search/derived.arch.json',
    'runs/r1/search/summary.json',
    'runs/r1/search/band-trials.json',
    'runs/r1/search/trials/',
    'runs/r1/search/trials/trial-00003.json',
    'runs/r1/search/trials/trial-00003.arch.json',
    'runs/r1/search/trials/trial-00003/checkpoints/',
  ]);
});

test('compound scaling and evaluation', () => {
  const c = run.scaling;
  expect([c.base, c.table, c.trial('a1.2-b1.1-g1.15'), c.trialArch('a1.2-b1.1-g1.15'), c.trialCheckpoints('a1.2-b1.1-g1.15'), c.phiArch(1)]).toEqual([
    'runs/r1/scaling',
    'runs/r1/scaling/table.json',
    'runs/r1/scaling/trials/a1.2-b1.1-g1.15.json',
    'runs/r1/scaling/trials/a1.2-b1.1-g1.15.arch.json',
    'runs/r1/scaling/trials/a1.2-b1.1-g1.15/checkpoints/',
    'runs/r1/scaling/phi-1.arch.json',
  ]);
  const v = run.evaluation;
  expect([v.base, v.model('phi-1'), v.checkpoint('phi-1'), v.summary]).toEqual([
    'runs/r1/evaluation',
    'runs/r1/evaluation/models/phi-1.json',
    'runs/r1/evaluation/checkpoints/phi-1.json',
    'runs/r1/evaluation/summary.json',
  ]);
});

test('checkpoint keys sort by step and read back their step', () => {
  const keys = [100, 9, 1_000_000].map((step) => checkpointKey('p/', step));
  expect([...keys].sort()).toEqual([keys[1], keys[0], keys[2]]);
  expect(keys.map(checkpointStep)).toEqual([100, 9, 1_000_000]);
  expect(checkpointStep('p/model.json')).toBeUndefined();
  expect(checkpointStep(7)).toBeUndefined();
  expect(keys.every(isCheckpointKey)).toBe(true);
  expect(isCheckpointKey('p/step-1.json')).toBe(false);
});
