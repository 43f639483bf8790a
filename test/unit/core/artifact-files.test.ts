/**
 * The schemas of the files readers parse (core/artifact-files.ts): each accepts the file as its
 * writer stores it today (built by the writer where it is pure or store-only, else typed by the
 * inferred type the writer `satisfies`, and always through a real store, so JSON's NaN-as-null and
 * dropped `undefined`s are in play), accepts the file as the writer's first version stored it, and
 * a reader given a wrong file stops with one line naming the key and the field.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore, putJson } from '../../../artifacts';
import { ArtifactFileError, readArtifactFile } from '../../../artifacts/read-file';
import { summarizeEvaluation, type EvaluatedModelRecord } from '../../../activities/evaluate-model';
import { CliError } from '../../../cli/errors';
import { runModels } from '../../../cli/run-models';
import {
  bandTrialsSummarySchema,
  evaluationSummarySchema,
  multiTrialSearchSummarySchema,
  pluginsFileSchema,
  scalingTableSchema,
  stageMetricsSchema,
  stepLogSchema,
  supernetEpochMetricsSchema,
  trialFileSchema,
  type BandTrialsSummary,
  type MultiTrialSearchSummary,
  type PluginProvenance,
  type ScalingTable,
  type SearchTrial,
  type StageMetrics,
  type StepLog,
  type SupernetEpochMetrics,
  type TrialFile,
} from '../../../core/artifact-files';
import { trialScore } from '../../../core/objectives';
import { runLayout } from '../../../core/run-layout';
import { gridTrials, pointLabel } from '../../../core/scaling-grid';
import { loadRunArtifacts } from '../../../report/load';
import { chooseCandidate, rankCandidates, scalingTable, type CompoundScalingInput } from '../../../workflows/compound-scaling';
import { budgetUse } from '../../../workflows/trial-budgets';

const RUN = 'r1';
const keys = runLayout(RUN);
const roots: string[] = [];

function newStore(): { store: LocalArtifactStore; location: string } {
  const location = mkdtempSync(join(tmpdir(), 'nas-artifact-files-'));
  roots.push(location);
  return { store: new LocalArtifactStore(location), location };
}

afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** The file as a reader gets it: stored as writers store it, read back through the schema. */
async function roundTrip<T>(key: string, value: T, schema: Parameters<typeof readArtifactFile>[2]): Promise<unknown> {
  const { store } = newStore();
  await putJson(store, key, value);
  return readArtifactFile(store, key, schema);
}

function trial(n: number, validationAccuracy: number, extra: Partial<TrialFile> = {}): TrialFile {
  return {
    trial: n,
    choices: [n % 2, 1],
    archKey: keys.search.trialArch(n),
    blocks: ['e1_k3_s1_c16', 'e6_k5_s2_c24'],
    validationAccuracy,
    params: 10_000 + n,
    macs: 200_000 + n,
    latencyMs: 1.5 + n / 10,
    trainSeconds: 12,
    fitSeconds: 10,
    ...extra,
  };
}

const plugins: PluginProvenance[] = [
  { kind: 'search-strategy', name: 'random', version: '0.1.0', source: 'built-in (hwnas 0.1.0)' },
  { kind: 'hardware-target', name: 'my-board', version: '1.0.0', source: '/home/u/plugins/board.ts', sha256: 'ab'.repeat(32) },
];

describe('each file as its writer stores it today', () => {
  test('evaluation/summary.json, made by the evaluation activity itself', async () => {
    const { store, location } = newStore();
    const record = (id: string, role: EvaluatedModelRecord['role'], testAccuracy: number): EvaluatedModelRecord => ({
      id,
      role,
      label: id,
      params: 1000,
      macs: 5000,
      testAccuracy,
      // A class without test images scores NaN, which JSON stores as null.
      perClassAccuracy: [testAccuracy, Number.NaN],
      latency: { cpu: { medianMs: 1.2, p90Ms: 1.4 } },
      modelKey: keys.training(id).modelJson,
      modelWeightsKey: keys.training(id).modelWeights,
      datasetName: 'fashion-mnist',
      classNames: ['a', 'b'],
      inputShape: [28, 28, 1],
      testCount: 10,
      trainableParams: 900,
      measurements: { cpu: { medianMs: 1.2, p90Ms: 1.4, repeats: 20, plugin: 'node-cpu' } },
    });
    const resultKeys = [keys.evaluation.model('train'), keys.evaluation.model('elastic-phi-1')];
    await putJson(store, resultKeys[0], record('train', 'trained', 0.8));
    await putJson(store, resultKeys[1], record('elastic-phi-1', 'scaled', 0.85));
    const key = await summarizeEvaluation({ runId: RUN, artifactLocation: location, pipelineName: 'p', targets: [{ id: 'cpu', plugin: 'node-cpu' }], resultKeys });

    const summary = await readArtifactFile(store, key, evaluationSummarySchema);
    expect(summary.models.map((m) => [m.id, m.role, m.testAccuracy])).toEqual([
      ['train', 'trained', 0.8],
      ['elastic-phi-1', 'scaled', 0.85],
    ]);
    expect(summary.models[0].perClassAccuracy).toEqual([0.8, Number.NaN]);
    // The record's own fields (measurements, testCount) are not the summary's: dropped, not refused.
    expect(summary.models[0]).not.toHaveProperty('measurements');
  });

  test('search/summary.json, with the scores and budgets the search computes', async () => {
    const latency = { target: { id: 'cpu', plugin: 'node-cpu', config: {} }, weight: 0.1, referenceMs: 2 };
    const trials: SearchTrial[] = [trial(0, 0.7), trial(1, 0.75), trial(2, 0.72, { latencyMs: undefined })].map((t, i) => ({
      ...t,
      score: trialScore(t, latency),
      epochs: i === 0 ? 1 : 3,
    }));
    const budgets = budgetUse(trials, 3);
    const summary = { strategy: { plugin: 'successive-halving', config: { eta: 3 } }, best: trials[1], trials, ...(budgets ? { budgets } : {}) } satisfies MultiTrialSearchSummary;
    expect(await roundTrip(keys.search.summary, summary, multiTrialSearchSummarySchema)).toEqual(summary);
  });

  test('search/trials/trial-NNNNN.json', async () => {
    const t = trial(3, 0.6);
    expect(await roundTrip(keys.search.trial(3), t, trialFileSchema)).toEqual(t);
  });

  test('search/epochs/epoch-NNNN.json, with and without a latency table', async () => {
    const epoch: SupernetEpochMetrics = {
      epoch: 0,
      steps: 120,
      meanLoss: 1.9,
      meanEntropy: 1.38,
      // The activity writes undefined when latency plays no part; JSON drops it.
      expectedLatencyMs: undefined,
      validationAccuracy: 0.41,
      blocks: ['e1_k3_s1_c16'],
      choices: [0, 2],
      resumedFromStep: 0,
      checkpointKey: keys.search.checkpoint(120),
    };
    expect(await roundTrip(keys.search.epoch(0), epoch, supernetEpochMetricsSchema)).toEqual(epoch);
    const withLatency = { ...epoch, epoch: 1, expectedLatencyMs: 2.7 };
    expect(await roundTrip(keys.search.epoch(1), withLatency, supernetEpochMetricsSchema)).toEqual(withLatency);
  });

  test('search/band-trials.json, a promoted net without a table price included', async () => {
    const band: BandTrialsSummary = {
      config: { trials: 2, epochs: 1, band: 0.2, parallelTrials: 2, halving: { eta: 2, maxEpochs: 2 } },
      draws: 40,
      referenceMs: 3.1,
      random: { draws: 500, medianMs: 3.6, p10Ms: 2.9, p90Ms: 4.4, referenceFasterThan: 0.7 },
      pick: 1,
      // workflows/band-trials.ts prices a promoted net it cannot find in the table as NaN.
      trials: [{ ...trial(0, 0.6), tableMs: 3.1, epochs: 1 }, { ...trial(1, 0.7), tableMs: 2.8, epochs: 1 }, { ...trial(2, 0.71), tableMs: Number.NaN, epochs: 2 }],
    };
    const budgets = budgetUse(band.trials, band.config.epochs);
    const stored = { ...band, ...(budgets ? { budgets } : {}) } satisfies BandTrialsSummary;
    const read = (await roundTrip(keys.search.bandTrials, stored, bandTrialsSummarySchema)) as BandTrialsSummary;
    expect(read).toEqual(stored);
    expect(read.trials[2].tableMs).toBeNaN();
  });

  test('scaling/table.json, ranked and chosen by the workflow’s own functions', async () => {
    const grid = { gridStep: 0.1, maxCoefficient: 1.3, costRatio: 2, tolerance: 0.1, trialBudget: 4 };
    const input: Pick<CompoundScalingInput, 'objective' | 'latency' | 'limits' | 'grid'> = { objective: 'accuracy-latency', grid, limits: { macs: 250_000 } };
    const results = gridTrials(grid).map((p, i) => ({
      ...p,
      resolution: Math.round(28 * p.gamma),
      archKey: keys.scaling.trialArch(pointLabel(p)),
      blocks: ['e1_k3_s1_c16'],
      validationAccuracy: 0.7 + i / 100,
      params: 10_000,
      macs: 200_000 + 20_000 * i,
      latencyMs: i === 0 ? undefined : 2 + i,
      trainSeconds: 3,
    }));
    const candidates = rankCandidates(results, input);
    const chosen = chooseCandidate(candidates);
    const table = scalingTable({ ...input, target: { id: 'cpu' } }, candidates, chosen);
    expect(candidates.length).toBeGreaterThan(1);
    expect(await roundTrip(keys.scaling.table, table, scalingTableSchema)).toEqual(table);
  });

  test('<stage>/metrics.json of a training and of an elastic training', async () => {
    const train: StageMetrics & Record<string, unknown> = {
      modelKey: keys.training('train').modelJson,
      modelWeightsKey: keys.training('train').modelWeights,
      inputShape: [28, 28, 1],
      metricsKey: keys.training('train').metrics,
      testAccuracy: 0.8,
      testLoss: 0.5,
      classes: 10,
      steps: 100,
      resumedFromStep: 0,
      attempt: 1,
      trainSeconds: 30,
      perClassAccuracy: [0.8, 0.8],
      classNames: ['a', 'b'],
    };
    const { metricsKey, classes, steps, resumedFromStep, attempt, trainSeconds, ...known } = train;
    expect(await roundTrip(keys.training('train').metrics, train, stageMetricsSchema)).toEqual(known);
    for (const model of [
      { kind: 'arch', archKey: keys.scaling.phiArch(1), label: 'phi-1', role: 'scaled', phi: 1 },
      { kind: 'efficientnet-b0' },
      { kind: 'small-cnn', filters: 16 },
    ] satisfies StageMetrics['model'][]) {
      const elastic = { ...known, modelKey: keys.elastic('elastic/x').modelJson, model };
      expect(await roundTrip(keys.elastic('elastic/x').metrics, elastic, stageMetricsSchema)).toEqual(elastic);
    }
  });

  test('elastic log/steps-*.json, a diverged step’s loss included', async () => {
    const log: StepLog = [
      { step: 40, epoch: 0, workers: ['w1', 'w2'], dropped: [], globalBatch: 64, learningRate: 0.1, loss: 1.2, at: 1000 },
      { step: 41, epoch: 0, workers: ['w1'], dropped: ['w2'], globalBatch: 32, learningRate: 0.1, loss: Number.NaN, at: 1010 },
    ];
    const read = (await roundTrip(keys.elastic('elastic/phi-1').log(40), log, stepLogSchema)) as StepLog;
    expect(read).toEqual(log);
    expect(read[1].loss).toBeNaN();
  });

  test('plugins.json', async () => {
    expect(await roundTrip(keys.plugins, plugins, pluginsFileSchema)).toEqual(plugins);
  });
});

describe('a file as the first version of its writer stored it', () => {
  // Each from the writer's first commit: the fields added since are the schemas' optional ones.
  const firstTrial = { trial: 0, choices: [0, 1], blocks: ['e1_k3_s1_c16'], validationAccuracy: 0.6, params: 1, macs: 2, trainSeconds: 3, archKey: 'a' };

  test.each([
    ['a trial record, before fitSeconds and latency', keys.search.trial(0), firstTrial, trialFileSchema],
    ['a multi-trial summary, before budgets and per-trial epochs', keys.search.summary, { strategy: { plugin: 'random', config: {} }, best: { ...firstTrial, score: 0.6 }, trials: [{ ...firstTrial, score: 0.6 }] }, multiTrialSearchSummarySchema],
    [
      'a supernet epoch without a latency table',
      keys.search.epoch(0),
      { epoch: 0, steps: 1, meanLoss: 1, meanEntropy: 1, validationAccuracy: 0.1, blocks: [], choices: [], resumedFromStep: 0, checkpointKey: '' },
      supernetEpochMetricsSchema,
    ],
    [
      'a band-trials summary, before halving, the random baseline and budgets',
      keys.search.bandTrials,
      { config: { trials: 1, epochs: 1, band: 0.2, parallelTrials: 1 }, draws: 3, referenceMs: 2, pick: 0, trials: [{ ...firstTrial, tableMs: 2 }] },
      bandTrialsSummarySchema,
    ],
    [
      'a scaling table without a target, limits or an eligible point',
      keys.scaling.table,
      {
        objective: 'accuracy',
        grid: { gridStep: 0.1, maxCoefficient: 1.2, costRatio: 2, tolerance: 0.05, trialBudget: 1 },
        candidates: [{ alpha: 1.2, beta: 1.1, gamma: 1.1, cost: 2, resolution: 31, macs: 1, params: 1, latencyMs: null, validationAccuracy: 0.5, score: 0.5, eligible: false, archKey: 'a' }],
      },
      scalingTableSchema,
    ],
    [
      'the first training metrics: no weights key, no input shape',
      keys.training('train').metrics,
      { modelKey: 'm', metricsKey: 'k', testAccuracy: 0.5, testLoss: 1, steps: 1, resumedFromStep: 0, attempt: 1, trainSeconds: 1, perClassAccuracy: [0.5], classNames: ['a'] },
      stageMetricsSchema,
    ],
    ['an elastic model reference before roles and phi', keys.elastic('elastic/a').metrics, { modelKey: 'm', testAccuracy: 0.5, model: { kind: 'arch', archKey: 'a', label: 'baseline' } }, stageMetricsSchema],
  ])('%s', async (_what, key, file, schema) => {
    await expect(roundTrip(key, file, schema)).resolves.toBeDefined();
  });

  test('a run whose metrics lack the weights key lists no model to export, and does not fail', async () => {
    const { store } = newStore();
    await putJson(store, keys.training('train').metrics, { modelKey: 'm', testAccuracy: 0.5, testLoss: 1, steps: 1 });
    await expect(runModels({ runId: RUN, store, location: store.location })).resolves.toEqual([]);
  });
});

describe('a wrong file', () => {
  const table: ScalingTable = {
    objective: 'accuracy',
    grid: { gridStep: 0.1, maxCoefficient: 1.2, costRatio: 2, tolerance: 0.05, trialBudget: 1 },
    candidates: [0, 1, 2, 3].map((i) => ({ alpha: 1, beta: 1, gamma: 1, cost: 1, resolution: 28, macs: 100 + i, params: 1, latencyMs: null, validationAccuracy: 0.5, score: 0.5, eligible: true, archKey: `a${i}` })),
  };

  test('fails the report with the key and the first wrong field', async () => {
    const { store } = newStore();
    const wrong = { ...table, candidates: table.candidates.map((c, i) => (i === 3 ? { ...c, macs: '103' } : c)) };
    await putJson(store, keys.scaling.table, wrong);
    const failure = loadRunArtifacts(store, RUN);
    await expect(failure).rejects.toThrow(ArtifactFileError);
    await expect(failure).rejects.toThrow('runs/r1/scaling/table.json is not a scaling table: candidates.3.macs: expected number, received string');
  });

  test('a missing field is named, and how many problems there are in all', async () => {
    const { store } = newStore();
    const wrong: Record<string, unknown> = { ...table, objective: 'speed' };
    delete wrong.candidates;
    await putJson(store, keys.scaling.table, wrong);
    await expect(loadRunArtifacts(store, RUN)).rejects.toThrow(
      'runs/r1/scaling/table.json is not a scaling table: objective: Invalid option: expected one of "accuracy"|"accuracy-latency" (and 1 more)',
    );
  });

  test('another stage’s file under a key is refused, not half read', async () => {
    const { store } = newStore();
    // A trial record where the band-trials summary belongs; a one-shot search's epochs make the report look there.
    await putJson(store, keys.search.epoch(0), { epoch: 0, steps: 1, meanEntropy: 1, validationAccuracy: 0.1, blocks: [], choices: [], resumedFromStep: 0, checkpointKey: '' });
    await putJson(store, keys.search.bandTrials, trial(0, 0.5));
    await expect(loadRunArtifacts(store, RUN)).rejects.toThrow('runs/r1/search/band-trials.json is not a band-trials summary: config: expected object, received undefined (and 4 more)');
  });

  test('a file that is not JSON', async () => {
    const { store } = newStore();
    await store.put(keys.evaluation.summary, '{"runId": "r1", ');
    await expect(loadRunArtifacts(store, RUN)).rejects.toThrow(/^runs\/r1\/evaluation\/summary\.json is not JSON, so not an evaluation summary: /);
  });

  test('ends nas export and nas compare in one line, the union’s closest branch named', async () => {
    const { store } = newStore();
    await putJson(store, keys.elastic('elastic/phi-1').metrics, { modelKey: 'm', modelWeightsKey: 'w', testAccuracy: 0.5, model: { kind: 'arch', archKey: 'a', label: 3 } });
    const failure = runModels({ runId: RUN, store, location: store.location });
    await expect(failure).rejects.toThrow(CliError);
    await expect(failure).rejects.toThrow('runs/r1/elastic/phi-1/metrics.json is not a training metrics file: model.label: expected string, received number');
    await putJson(store, keys.elastic('elastic/phi-1').metrics, { modelKey: 'm', modelWeightsKey: 'w', testAccuracy: 0.5, model: { kind: 'resnet-50' } });
    await expect(runModels({ runId: RUN, store, location: store.location })).rejects.toThrow(
      'metrics.json is not a training metrics file: model.kind: expected "arch", "small-cnn", "mobilenet-v2" or "efficientnet-<variant>", received "resnet-50"',
    );
  });

  test('an elastic step log entry without its loss', async () => {
    const { store } = newStore();
    await putJson(store, keys.elastic('elastic/phi-1').log(0), [{ step: 0, epoch: 0, workers: [], dropped: [], globalBatch: 1, learningRate: 0.1, at: 0 }]);
    await expect(loadRunArtifacts(store, RUN)).rejects.toThrow('runs/r1/elastic/phi-1/log/steps-000000000.json is not an elastic step log: 0.loss: expected number, received undefined');
  });
});
