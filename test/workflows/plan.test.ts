/**
 * The plan compiler, stage by stage: small pipelines through the DSL, and the stage input each one
 * makes (settings, the schema's defaults, resolved targets), the problems it refuses a pipeline
 * for, and the JSON it made before stage inputs had types of their own.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LoadedPipeline } from '../../dsl/load';
import { parsePipelineText } from '../../dsl/load';
import { macs } from '../../plugins/builtin/targets';
import { builtinRegistry } from '../../plugins/registry';
import type { PipelineWorkflowInput, StrategySetRef } from '../../workflows/pipeline';
import { planPipeline, unrunnable, type PluginModules } from '../../workflows/plan';

const SPACE = `searchSpace:
  stem: { channels: 8, stride: 1 }
  stages:
    - { channels: 8, repeats: 1, stride: 2, kernels: [3, 5], expansions: [3, 6] }
  head: { channels: 32, dropout: 0 }`;
const TWO_TARGETS = '{ proxy: { plugin: macs }, cpu: { plugin: node-cpu } }';

/** A pipeline around `stages` (YAML lines under `stages:`). */
const pipelineText = (stages: string, targets = TWO_TARGETS, dataset = '{ name: fashion-mnist }') =>
  `version: 1\nname: plan-test\nseed: 3\ndataset: ${dataset}\n${SPACE}\nhardwareTargets: ${targets}\nstages:\n${stages}\n`;

function loadedOf(stages: string, targets?: string, dataset?: string): LoadedPipeline {
  return { file: 'plan-test.yaml', pipeline: parsePipelineText(pipelineText(stages, targets, dataset), 'plan-test.yaml'), plugins: builtinRegistry(), userPlugins: [] };
}

/** Built-ins only: no module file to read, nothing to record. */
const BUILT_INS: PluginModules = { strategySet: () => undefined, provenance: () => [] };

const plan = (stages: string, targets?: string, dataset?: string, modules = BUILT_INS): PipelineWorkflowInput =>
  planPipeline(loadedOf(stages, targets, dataset), 'run-1', '/tmp/art', modules);

// The targets with their plugins' config defaults, as validation fills them in.
const PROXY = { id: 'proxy', plugin: 'macs', config: { msPerMegaMac: 0.01 } };
const CPU = { id: 'cpu', plugin: 'node-cpu', config: { backend: 'tensorflow', batchSize: 1, warmupRuns: 5, repeats: 20 } };
const FASHION = { name: 'fashion-mnist', resolution: 28, validationFraction: 0.1 };
const PROXYLESS = { plugin: 'proxyless-gradient', config: { archLearningRate: 0.006, archWeightDecay: 0, sampledPaths: 2, weightStepsPerArchStep: 1 } };
const RUN = { runId: 'run-1', artifactLocation: '/tmp/art', seed: 3 };

function searchOf(p: PipelineWorkflowInput) {
  const search = p.stages.search;
  if (!search) throw new Error('the plan has no search stage');
  return search;
}

describe('the baseline search, one-shot', () => {
  it('carries the search settings, the schema defaults, and lambda per reference millisecond', () => {
    const search = searchOf(plan('  baselineSearch: { target: proxy, epochs: 2, trainSubset: 500, targetLatencyMs: 4, latencyWeight: 0.2 }'));
    expect(search).toEqual({
      mode: 'one-shot',
      input: {
        ...RUN,
        dataset: { ...FASHION, trainSubset: 500 },
        space: expect.objectContaining({ inputResolution: 28 }),
        strategy: PROXYLESS,
        epochs: 2,
        batchSize: 64,
        learningRate: 0.05,
        pluginFiles: [],
        warmupEpochs: 5,
        latencyWeight: 0.2 / 4,
        target: PROXY,
        checkpointEverySteps: 100,
        heartbeatTimeoutSeconds: 30,
      },
    });
    expect(search.input).not.toHaveProperty('latencyTargetMs', expect.anything());
  });

  it('aims an absolute penalty at the target latency, lambda unchanged, with the strategy config as given', () => {
    const search = searchOf(
      plan('  baselineSearch: { target: cpu, latencyPenalty: absolute, targetLatencyMs: 2.5, strategy: { plugin: proxyless-gradient, config: { sampledPaths: 3 } } }'),
    );
    expect(search.input).toMatchObject({ latencyWeight: 0.1, latencyTargetMs: 2.5, target: CPU, strategy: { plugin: 'proxyless-gradient', config: { sampledPaths: 3 } } });
  });

  it('takes the only declared target when none is named, and none when none is declared', () => {
    expect(searchOf(plan('  baselineSearch: {}', '{ proxy: { plugin: macs } }')).input).toMatchObject({ target: PROXY, latencyWeight: 0.1 });
    expect(searchOf(plan('  baselineSearch: { latencyWeight: 0 }', '{}')).input).toMatchObject({ target: undefined, latencyWeight: 0 });
  });

  it('hands band trials their settings and the search parallelism', () => {
    const band = searchOf(plan('  baselineSearch: { target: proxy, parallelTrials: 3, bandTrials: { trials: 5, band: 0.2 } }'));
    expect(band.mode).toBe('one-shot');
    expect(band.input).toMatchObject({ bandTrials: { trials: 5, epochs: 1, band: 0.2, parallelTrials: 3 } });
    expect(band.mode === 'one-shot' && band.input.bandTrials).not.toHaveProperty('halving');

    const halving = searchOf(plan('  baselineSearch: { target: proxy, bandTrials: { trials: 8, halving: { maxEpochs: 3 } } }'));
    expect(halving.input).toMatchObject({ bandTrials: { trials: 8, epochs: 1, band: 0.1, halving: { eta: 3, maxEpochs: 3 }, parallelTrials: 4 } });
  });

  it('has no band trials unless asked, and asks for no strategy set', () => {
    const strategySet = jest.fn<StrategySetRef | undefined, []>(() => ({ id: 'never', modules: [] }));
    const search = searchOf(plan('  baselineSearch: { target: proxy }', undefined, undefined, { ...BUILT_INS, strategySet }));
    expect(search.mode === 'one-shot' && search.input.bandTrials).toBeUndefined();
    expect(search).not.toHaveProperty('strategySet');
    expect(strategySet).not.toHaveBeenCalled();
  });
});

describe('the baseline search, multi-trial', () => {
  it('carries trial settings and prices latency on the named target', () => {
    const search = searchOf(plan('  baselineSearch: { strategy: { plugin: random, config: { trials: 4 } }, target: cpu, latencyWeight: 0.05, targetLatencyMs: 3 }'));
    expect(search).toEqual({
      mode: 'multi-trial',
      input: {
        ...RUN,
        dataset: FASHION,
        space: expect.objectContaining({ inputResolution: 28 }),
        strategy: { plugin: 'random', config: { trials: 4 } },
        epochs: 30,
        batchSize: 64,
        learningRate: 0.05,
        pluginFiles: [],
        parallelTrials: 4,
        checkpointEverySteps: 100,
        heartbeatTimeoutSeconds: 30,
        latency: { target: CPU, weight: 0.05, referenceMs: 3, penalty: 'linear' },
      },
    });
  });

  it('prices latency per millisecond without a target latency, and not at all at lambda 0', () => {
    expect(searchOf(plan('  baselineSearch: { strategy: { plugin: random }, target: proxy, latencyPenalty: absolute, targetLatencyMs: 9 }')).input).toMatchObject({
      latency: { target: PROXY, weight: 0.1, referenceMs: 9, penalty: 'absolute' },
    });
    expect(searchOf(plan('  baselineSearch: { strategy: { plugin: random }, target: proxy }')).input).toMatchObject({ latency: { referenceMs: 1 } });
    const free = searchOf(plan('  baselineSearch: { strategy: { plugin: regularized-evolution }, latencyWeight: 0, checkpointEverySteps: 7, heartbeatTimeoutSeconds: 45 }'));
    expect(free.input).toMatchObject({ latency: undefined, checkpointEverySteps: 7, heartbeatTimeoutSeconds: 45 });
  });

  it("runs a user's strategy on the strategy set the plugin modules name", () => {
    const set: StrategySetRef = { id: 'abc123', modules: [{ file: '/plugins/mine.ts', sha256: 'f00', strategies: ['random@1.0.0'] }] };
    const strategySet = jest.fn<StrategySetRef | undefined, [LoadedPipeline, string]>(() => set);
    const search = searchOf(plan('  baselineSearch: { strategy: { plugin: random }, latencyWeight: 0 }', undefined, undefined, { ...BUILT_INS, strategySet }));
    expect(search).toMatchObject({ mode: 'multi-trial', strategySet: set });
    expect(strategySet).toHaveBeenCalledWith(expect.anything(), 'random');
    // The set goes before the input, as runs recorded it.
    expect(Object.keys(search)).toEqual(['mode', 'strategySet', 'input']);
  });
});

describe('compound scaling', () => {
  it('without a search, trains its grid points with its own settings and the schema defaults', () => {
    expect(plan('  compoundScaling: { baseline: efficientnet-b0 }\n  elasticTraining: {}').stages.scaling).toEqual({
      ...RUN,
      dataset: FASHION,
      baseline: 'efficientnet-b0',
      grid: { gridStep: 0.05, maxCoefficient: 2, costRatio: 2, tolerance: 0.1, trialBudget: 16 },
      phis: [1, 2],
      objective: 'accuracy',
      target: undefined,
      latency: undefined,
      limits: undefined,
      epochs: 5,
      batchSize: 64,
      learningRate: 0.05,
      parallelTrials: 2,
      pluginFiles: [],
      checkpointEverySteps: 100,
      heartbeatTimeoutSeconds: 120,
    });
  });

  it("trains like the search's trials, with its target, latency weight and limits", () => {
    const scaling = plan(
      '  baselineSearch: { target: proxy, batchSize: 32, learningRate: 0.1, parallelTrials: 3 }\n' +
        '  compoundScaling: { objective: accuracy-latency, target: cpu, latencyWeight: 0.1, limits: { latencyMs: 20, macs: 5000000 }, phis: [1, 3], trainSubset: 700, trialBudget: 4 }',
    ).stages.scaling;
    expect(scaling).toMatchObject({
      dataset: { ...FASHION, trainSubset: 700 },
      baseline: 'search',
      grid: { trialBudget: 4 },
      phis: [1, 3],
      objective: 'accuracy-latency',
      target: CPU,
      latency: { weight: 0.1 },
      limits: { latencyMs: 20, macs: 5000000 },
      batchSize: 32,
      learningRate: 0.1,
      parallelTrials: 3,
    });
  });
});

describe('elastic training', () => {
  it('carries every setting, the fallback model and the cut data set', () => {
    const elastic = plan(
      '  elasticTraining: { model: { kind: mobilenet-v2 }, augment: { padding: 4 }, trainSubset: 900, weightDecay: 0.0001, labelSmoothing: 0.1, schedule: constant, workers: { min: 2, max: 3 } }',
    ).stages.elastic;
    expect(elastic).toEqual({
      config: {
        policy: 'dynamic-sgd',
        windowIterations: 100,
        perWorkerBatch: 64,
        workers: { min: 2, max: 3 },
        epochs: 10,
        schedule: 'constant',
        trainSubset: 900,
        learningRate: 0.05,
        momentum: 0.9,
        weightDecay: 0.0001,
        labelSmoothing: 0.1,
        augment: { padding: 4, flip: true },
        model: { kind: 'mobilenet-v2', filters: 16 },
        stepTimeoutSeconds: 30,
        checkpointEverySteps: 100,
        heartbeatTimeoutSeconds: 30,
      },
      fallbackModel: { kind: 'mobilenet-v2' },
      dataset: { ...FASHION, trainSubset: 900 },
    });
  });

  it('falls back to the small CNN of the default width, unaugmented', () => {
    const elastic = plan('  elasticTraining: {}').stages.elastic;
    expect(elastic).toMatchObject({ fallbackModel: { kind: 'small-cnn', filters: 16 }, dataset: FASHION });
    // Left out, not set to undefined, as the file format leaves them: tests match payloads against plans.
    expect(elastic?.config).not.toHaveProperty('augment');
    expect(elastic?.config).not.toHaveProperty('trainSubset');
    expect(elastic?.dataset).not.toHaveProperty('path');
  });
});

describe('the train stage', () => {
  it('carries its settings with the schema defaults', () => {
    expect(plan('  train: { model: { filters: 24 }, optimizer: momentum, epochs: 3 }').stages.train).toEqual({
      model: { kind: 'small-cnn', filters: 24 },
      epochs: 3,
      batchSize: 128,
      learningRate: 0.002,
      optimizer: 'momentum',
      momentum: 0.9,
      checkpointEverySteps: 100,
      heartbeatTimeoutSeconds: 30,
    });
  });

  it('maps each kind of data set, paths and all', () => {
    const p = plan('  train: {}', '{}', '{ name: cifar10, path: /data/cifar, resolution: 24, validationFraction: 0.2 }');
    expect(p.dataset).toEqual({ name: 'cifar10', path: '/data/cifar', resolution: 24, validationFraction: 0.2 });
    expect(p.targets).toEqual([]);
  });
});

describe('evaluation', () => {
  it('measures on every declared target when it lists none', () => {
    const evaluation = plan('  train: {}\n  evaluation: { referenceModels: [small-cnn] }').stages.evaluation;
    expect(evaluation).toEqual({
      config: { targets: [], repeats: 30, warmupRuns: 5, batchSize: 256, referenceModels: ['small-cnn'], heartbeatTimeoutSeconds: 600, checkpointEverySeconds: 60 },
      targets: [PROXY, CPU],
    });
  });

  it('measures on the targets it lists, with its settings and reference models', () => {
    const evaluation = plan(
      '  elasticTraining: {}\n  evaluation: { targets: [cpu], repeats: 7, warmupRuns: 1, batchSize: 64, referenceModels: [small-cnn, efficientnet-b0], heartbeatTimeoutSeconds: 900, checkpointEverySeconds: 30 }',
    ).stages.evaluation;
    expect(evaluation).toEqual({
      config: { targets: ['cpu'], repeats: 7, warmupRuns: 1, batchSize: 64, referenceModels: ['small-cnn', 'efficientnet-b0'], heartbeatTimeoutSeconds: 900, checkpointEverySeconds: 30 },
      targets: [CPU],
    });
  });
});

describe('the run', () => {
  it('names the run, its targets, its plugin files and what the plugin modules record', () => {
    const loaded = loadedOf('  train: {}');
    const modules: PluginModules = { strategySet: () => undefined, provenance: () => [{ kind: 'hardware-target', name: 'macs', version: '1', source: 'built-in (test)' }] };
    const p = planPipeline(loaded, 'run-9', '/tmp/art', modules);
    expect(p).toMatchObject({ runId: 'run-9', pipelineName: 'plan-test', seed: 3, dataset: FASHION, artifactLocation: '/tmp/art', targets: [PROXY, CPU], pluginFiles: [] });
    expect(p.plugins).toEqual([{ kind: 'hardware-target', name: 'macs', version: '1', source: 'built-in (test)' }]);
    expect(Object.keys(p.stages).filter((s) => p.stages[s as keyof typeof p.stages] !== undefined)).toEqual(['train']);
  });
});

describe('what the plan refuses', () => {
  it('accepts every stage this version runs', () => {
    expect(unrunnable(loadedOf('  baselineSearch: { target: proxy }\n  compoundScaling: {}\n  elasticTraining: {}\n  evaluation: {}'))).toEqual([]);
  });

  it('a stage this version cannot run yet', () => {
    const loaded = loadedOf('  train: {}');
    // The schema knows no such stage today; a newer file format could, ahead of this runner.
    (loaded.pipeline.stages as Record<string, unknown>).distillation = {};
    expect(unrunnable(loaded)).toEqual([expect.stringMatching(/^stages\.distillation cannot run yet; this version runs stages\.train, stages\.baselineSearch/)]);
  });

  it('evaluation with nothing trained', () => {
    expect(unrunnable(loadedOf('  baselineSearch: { target: proxy }\n  evaluation: {}'))).toEqual([expect.stringContaining('stages.evaluation: nothing trained to evaluate')]);
  });

  it('reference models the train stage cannot train', () => {
    expect(unrunnable(loadedOf('  train: {}\n  evaluation: { referenceModels: [small-cnn, efficientnet-b0] }'))).toEqual([
      expect.stringContaining('stages.evaluation.referenceModels: efficientnet-b0 would be trained with the train stage'),
    ]);
  });

  it('band trials on a multi-trial search', () => {
    expect(unrunnable(loadedOf('  baselineSearch: { strategy: { plugin: random }, target: proxy, bandTrials: {} }'))).toEqual([
      expect.stringContaining('stages.baselineSearch.bandTrials: band trials refine a one-shot search; "random"'),
    ]);
  });

  it('a target that cannot measure whole models', () => {
    const loaded = loadedOf('  train: {}', '{ proxy: { plugin: macs } }');
    // A user's target may time ops only.
    loaded.plugins.register({ ...macs, name: 'ops-only', measureModel: undefined }, '/plugins/ops-only.ts');
    loaded.pipeline.hardwareTargets.edge = { plugin: 'ops-only', config: {} };
    expect(unrunnable(loaded)).toEqual(['hardwareTargets.edge: target "ops-only" cannot measure whole models yet']);
    expect(planPipeline(loaded, 'r', '/tmp/art', BUILT_INS).pluginFiles).toEqual(['/plugins/ops-only.ts']);
  });
});

/** The pipelines test/fixtures/plans/payloads.json recorded the plans of (stages, targets, data set). */
const PAYLOAD_CASES: Record<string, [string, string?, string?]> = {
  oneShotLinear: ['  baselineSearch: { target: proxy, epochs: 2, trainSubset: 500, targetLatencyMs: 4, latencyWeight: 0.2 }'],
  oneShotDefault: ['  baselineSearch: {}', '{ proxy: { plugin: macs } }'],
  oneShotNoTarget: ['  baselineSearch: { latencyWeight: 0 }', '{}'],
  oneShotAbsolute: [
    '  baselineSearch: { target: cpu, latencyPenalty: absolute, targetLatencyMs: 2.5, strategy: { plugin: proxyless-gradient, config: { sampledPaths: 2 } } }',
  ],
  bandTrials: ['  baselineSearch: { target: proxy, parallelTrials: 3, bandTrials: { trials: 5, band: 0.2 } }'],
  bandHalving: ['  baselineSearch: { target: proxy, bandTrials: { trials: 8, epochs: 1, halving: { maxEpochs: 3 } } }'],
  multiTrial: ['  baselineSearch: { strategy: { plugin: random, config: { trials: 4 } }, target: cpu, latencyWeight: 0.05, targetLatencyMs: 3 }'],
  multiTrialNoLatency: ['  baselineSearch: { strategy: { plugin: regularized-evolution }, latencyWeight: 0 , checkpointEverySteps: 7, heartbeatTimeoutSeconds: 45}'],
  multiTrialAbsolute: ['  baselineSearch: { strategy: { plugin: random }, target: proxy, latencyPenalty: absolute, targetLatencyMs: 9 }'],
  scalingAlone: ['  compoundScaling: { baseline: efficientnet-b0 }\n  elasticTraining: {}'],
  scalingFull: [
    '  baselineSearch: { target: proxy, batchSize: 32, learningRate: 0.1, parallelTrials: 3 }\n  compoundScaling: { objective: accuracy-latency, target: cpu, latencyWeight: 0.1, limits: { latencyMs: 20, macs: 5000000 }, phis: [1, 3], trainSubset: 700, trialBudget: 4 }',
  ],
  elasticFull: [
    '  elasticTraining: { model: { kind: mobilenet-v2 }, augment: { padding: 4 }, trainSubset: 900, weightDecay: 0.0001, labelSmoothing: 0.1, schedule: constant, workers: { min: 2, max: 3 } }',
  ],
  elasticDefault: ['  elasticTraining: {}'],
  train: ['  train: { model: { filters: 24 }, optimizer: momentum, epochs: 3 }'],
  trainDefault: ['  train: {}'],
  evaluationAll: ['  train: {}\n  evaluation: { referenceModels: [small-cnn] }'],
  evaluationTargets: [
    '  elasticTraining: {}\n  evaluation: { targets: [cpu], repeats: 7, warmupRuns: 1, batchSize: 64, referenceModels: [small-cnn, efficientnet-b0], heartbeatTimeoutSeconds: 900, checkpointEverySeconds: 30 }',
  ],
  datasetCifar: ['  train: {}', '{}', '{ name: cifar10, path: /data/cifar, resolution: 24, validationFraction: 0.2 }'],
};

describe('the JSON that goes into Temporal', () => {
  const recorded = (JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'plans', 'payloads.json'), 'utf8')) as { payloads: Record<string, unknown> }).payloads;

  it('has a recording for every case', () => {
    expect(Object.keys(recorded).sort()).toEqual(Object.keys(PAYLOAD_CASES).sort());
  });

  // Byte for byte, key order included: the payload converter writes JSON.stringify's text.
  it.each(Object.entries(PAYLOAD_CASES))('is what it was for %s', (name, [stages, targets, dataset]) => {
    const { plugins: _plugins, ...payload } = plan(stages, targets, dataset);
    expect(JSON.stringify(payload)).toBe(JSON.stringify(recorded[name]));
  });
});
