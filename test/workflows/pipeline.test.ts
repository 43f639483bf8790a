/**
 * pipelineWorkflow with stub activities under the real stage workflows: which stages a plan runs,
 * in which order and under which workflow ids, what each stage hands the next (the searched
 * architecture to scaling, the phi models to elastic training, every trained model to evaluation),
 * where the work goes, and how a stage's failure ends the run.
 */
import { ChildWorkflowFailure, ApplicationFailure } from '@temporalio/client';
import type { ElasticTrainingInput } from '../../activities/elastic-training';
import type { ModelToEvaluate } from '../../activities/evaluate-model';
import { runLayout } from '../../core/run-layout';
import { pipelineStatusQuery, pipelineWorkflow, stageWorkflowId, type PipelineWorkflowInput } from '../../workflows/pipeline';
import { resultArchKey } from '../../workflows/one-shot-search';
import { strategyQueueOf, trialQueueOf } from '../../workflows/task-queues';
import { useStubWorkers, type ActivityInput } from '../support/workflow-env';
import { accuracyOfChoices, everyStub, failureOf, newRunId, planned, scalingResult, trialMetrics } from './stubs';

jest.setTimeout(60_000);
const STRATEGY_SET = 'set-under-test';
const stubs = useStubWorkers({ strategySetIds: [STRATEGY_SET] });

const coordinated = (calls: ActivityInput<'elasticCoordinator'>[]) => calls as ElasticTrainingInput[];
const stageNames = (r: { stages: { stage: string }[] }) => r.stages.map((s) => s.stage);
/** What evaluation was given, one model per call, without the keys (checked where they matter). */
const modelsEvaluated = (calls: ActivityInput<'evaluateModel'>[]) => calls.map(({ model: { id, role, label, labelWithResolution } }) => ({ id, role, label, ...(labelWithResolution ? { labelWithResolution } : {}) }));

test('a train-only pipeline runs one child stage that trains, then measures on every declared target', async () => {
  const input = planned('  train: { epochs: 2, model: { filters: 8 } }', newRunId('train'));
  const calls = stubs.serve(everyStub());
  const handle = await stubs.start(pipelineWorkflow, input);
  const result = await handle.result();

  expect(calls.names()).toEqual(['trainClassifier', 'measureLatency', 'measureLatency']);
  const [trained] = calls.of('trainClassifier');
  expect(trained).toEqual({ runId: input.runId, stage: 'train', artifactLocation: input.artifactLocation, seed: 7, dataset: input.dataset, train: input.stages.train });
  const train = runLayout(input.runId).training('train');
  const trainedModel = train.modelJson;
  expect(calls.of('measureLatency').map((m) => [m.targetId, m.plugin, m.resultKey, m.modelJsonKey])).toEqual([
    ['proxy', 'macs', train.latency('proxy'), trainedModel],
    ['cpu', 'node-cpu', train.latency('cpu'), trainedModel],
  ]);
  expect(calls.of('measureLatency')[0].inputShape).toEqual([28, 28, 1]);
  expect(result.train?.latency.map((l) => l.targetId)).toEqual(['proxy', 'cpu']);
  expect(result.train?.modelKey).toBe(trainedModel);
  expect(result).not.toHaveProperty('search');
  expect(result).not.toHaveProperty('evaluation');
  expect(result.stages).toEqual([{ stage: 'train', workflowId: `${input.runId}.train`, seconds: expect.any(Number) }]);
  expect(await handle.query(pipelineStatusQuery)).toEqual({ runId: input.runId, completed: result.stages });
});

test('every stage in order: scaling scales the best trial, elastic training trains each phi on its data cut, evaluation takes each', async () => {
  const input = planned(
    `  baselineSearch: { strategy: { plugin: random, config: { trials: 3 } }, epochs: 1, latencyWeight: 0 }
  compoundScaling: { baseline: search, gridStep: 0.1, maxCoefficient: 1.5, tolerance: 0.05, trialBudget: 2, epochs: 1, phis: [1, 2] }
  elasticTraining: { epochs: 1, trainSubset: 500, workers: { min: 1, max: 1 } }
  evaluation: { targets: [cpu], repeats: 3, warmupRuns: 1 }`,
    newRunId('all'),
  );
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);

  expect(stageNames(result)).toEqual(['search', 'scaling', 'elastic-phi-1', 'elastic-phi-2', 'evaluation']);
  expect(result.stages.map((s) => s.workflowId)).toEqual(stageNames(result).map((s) => stageWorkflowId(input.runId, s)));
  if (result.search?.mode !== 'multi-trial') throw new Error('expected a multi-trial search result');
  const best = result.search.result.best;
  expect(best.validationAccuracy).toBe(Math.max(...calls.of('trainTrial').map((t) => accuracyOfChoices(t.choices))));
  expect(calls.of('scalingTrial').map((t) => t.baseline)).toEqual([{ archKey: best.archKey }, { archKey: best.archKey }]);

  const elastic = coordinated(calls.of('elasticCoordinator'));
  expect(elastic.map((e) => [e.stage, e.model])).toEqual([
    ['elastic/phi-1', { kind: 'arch', archKey: runLayout(input.runId).scaling.phiArch(1), label: 'phi-1', role: 'scaled', phi: 1 }],
    ['elastic/phi-2', { kind: 'arch', archKey: runLayout(input.runId).scaling.phiArch(2), label: 'phi-2', role: 'scaled', phi: 2 }],
  ]);
  // The stage's own cut of the data; the pipeline's data set is whole.
  for (const e of elastic) expect(e.dataset).toEqual({ ...input.dataset, trainSubset: 500 });
  expect(input.dataset).not.toHaveProperty('trainSubset');

  const evaluations = calls.of('evaluateModel');
  expect(modelsEvaluated(evaluations)).toEqual([
    { id: 'elastic-phi-1', role: 'scaled', label: 'phi 1' },
    { id: 'elastic-phi-2', role: 'scaled', label: 'phi 2' },
  ]);
  expect(evaluations.map((e) => e.model.modelKey)).toEqual([runLayout(input.runId).elastic('elastic/phi-1').modelJson, runLayout(input.runId).elastic('elastic/phi-2').modelJson]);
  expect(evaluations.map((e) => [e.index, e.count])).toEqual([[1, 2], [2, 2]]);
  for (const e of evaluations) {
    expect(e.targets.map((t) => t.id)).toEqual(['cpu']);
    expect(e).toMatchObject({ repeats: 3, warmupRuns: 1, batchSize: 256, dataset: input.dataset });
  }
  expect(calls.of('summarizeEvaluation')).toEqual([
    expect.objectContaining({ runId: input.runId, pipelineName: 'workflow-test', targets: [{ id: 'cpu', plugin: 'node-cpu' }], resultKeys: evaluations.map((e) => runLayout(input.runId).evaluation.model(e.model.id)) }),
  ]);
  expect(result.evaluation).toEqual({ summaryKey: runLayout(input.runId).evaluation.summary, models: expect.any(Array) });
  expect(result.evaluation?.models.map((m) => m.id)).toEqual(['elastic-phi-1', 'elastic-phi-2']);
});

test('without scaling, elastic training trains the one-shot search result as the searched baseline, and evaluation measures on every target', async () => {
  const input = planned(
    `  baselineSearch: { epochs: 2, warmupEpochs: 1, latencyWeight: 0.5, target: proxy }
  elasticTraining: { epochs: 1 }
  evaluation: {}`,
    newRunId('one-shot'),
  );
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);

  expect(stageNames(result)).toEqual(['search', 'elastic-baseline', 'evaluation']);
  expect(calls.of('supernetEpoch')).toHaveLength(2);
  expect(coordinated(calls.of('elasticCoordinator')).map((e) => [e.stage, e.model])).toEqual([
    ['elastic/baseline', { kind: 'arch', archKey: runLayout(input.runId).search.derived, label: 'baseline', role: 'searched' }],
  ]);
  expect(modelsEvaluated(calls.of('evaluateModel'))).toEqual([{ id: 'elastic-baseline', role: 'searched', label: 'searched baseline' }]);
  expect(calls.of('evaluateModel')[0].targets.map((t) => t.id)).toEqual(['proxy', 'cpu']);
});

test("with band trials, scaling scales the trials' pick rather than the derived net", async () => {
  const input = planned(
    `  baselineSearch: { epochs: 1, warmupEpochs: 0, latencyWeight: 0.5, target: proxy, bandTrials: { trials: 2 } }
  compoundScaling: { baseline: search, gridStep: 0.1, maxCoefficient: 1.5, tolerance: 0.05, trialBudget: 1, epochs: 1, phis: [1] }`,
    newRunId('band'),
  );
  // Trial 1, a band net, beats the derived net (trial 0).
  const calls = stubs.serve(everyStub({ trainTrial: async (t) => trialMetrics(t, t.trial === 1 ? 0.9 : 0.6) }));
  const result = await stubs.execute(pipelineWorkflow, input);

  if (result.search?.mode !== 'one-shot') throw new Error('expected a one-shot search result');
  const pick = result.search.result.band?.pick;
  expect(pick?.trial).toBe(1);
  expect(resultArchKey(result.search.result)).toBe(pick?.archKey);
  expect(pick?.archKey).not.toBe(result.search.result.derivedArchKey);
  expect(calls.of('scalingTrial').map((t) => t.baseline)).toEqual([{ archKey: pick?.archKey }]);
  expect(stageNames(result)).toEqual(['search', 'scaling']);
});

test('scaling EfficientNet-B0 needs no search stage', async () => {
  const input = planned('  compoundScaling: { baseline: efficientnet-b0, gridStep: 0.1, maxCoefficient: 1.5, tolerance: 0.05, trialBudget: 1, epochs: 1, phis: [1] }', newRunId('b0'));
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);
  expect(stageNames(result)).toEqual(['scaling']);
  expect(calls.of('scalingTrial').map((t) => t.baseline)).toEqual([{ named: 'efficientnet-b0' }]);
  expect(calls.of('scaledArchitectures')[0].baseline).toEqual({ named: 'efficientnet-b0' });
  expect(result.scaling?.scaled.map((s) => s.phi)).toEqual([1]);
});

test('scaling the search result without a search stage is refused for good before any stage starts', async () => {
  const base = planned('  compoundScaling: { baseline: efficientnet-b0 }', newRunId('no-search'));
  const input: PipelineWorkflowInput = { ...base, stages: { scaling: { ...base.stages.scaling!, baseline: 'search' } } };
  const calls = stubs.serve(everyStub());
  const { root } = await failureOf(stubs.execute(pipelineWorkflow, input));
  expect(root).toMatchObject({ type: 'PipelineValidationError', nonRetryable: true, message: 'compound scaling of the search result needs a baseline search stage' });
  expect(calls.all).toEqual([]);
});

test.each([
  ['small-cnn', '{ kind: small-cnn, filters: 12 }', { kind: 'small-cnn', filters: 12 }, { label: 'small CNN (12 filters)' }],
  ['efficientnet-b0', '{ kind: efficientnet-b0 }', { kind: 'efficientnet-b0' }, { label: 'EfficientNet-B0', labelWithResolution: true }],
])('elastic training alone trains its own %s model', async (kind, yaml, model, naming) => {
  const input = planned(`  elasticTraining: { epochs: 1, model: ${yaml} }\n  evaluation: {}`, newRunId(`elastic-${kind}`));
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);
  expect(stageNames(result)).toEqual([`elastic-${kind}`, 'evaluation']);
  expect(coordinated(calls.of('elasticCoordinator')).map((e) => [e.stage, e.model])).toEqual([[`elastic/${kind}`, model]]);
  expect(modelsEvaluated(calls.of('evaluateModel'))).toEqual([{ id: `elastic-${kind}`, role: 'trained', ...naming }]);
});

test('references are trained elastically when the pipeline has elastic training, each its own stage, and evaluated after the pipeline models', async () => {
  const input = planned(
    `  train: { epochs: 1 }
  elasticTraining: { epochs: 1 }
  evaluation: { referenceModels: [small-cnn, efficientnet-b0] }`,
    newRunId('references'),
  );
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);

  expect(stageNames(result)).toEqual(['elastic-small-cnn', 'train', 'reference-small-cnn', 'reference-efficientnet-b0', 'evaluation']);
  expect(coordinated(calls.of('elasticCoordinator')).map((e) => [e.stage, e.model])).toEqual([
    ['elastic/small-cnn', { kind: 'small-cnn', filters: 16 }],
    ['reference/small-cnn', { kind: 'small-cnn', filters: 16 }],
    ['reference/efficientnet-b0', { kind: 'efficientnet-b0' }],
  ]);
  // Only the train stage's own model went through trainClassifier.
  expect(calls.of('trainClassifier').map((t) => t.stage)).toEqual(['train']);
  const evaluated: Partial<ModelToEvaluate>[] = [
    { id: 'elastic-small-cnn', role: 'trained', label: 'small CNN (16 filters)' },
    { id: 'train', role: 'trained', label: 'small CNN (16 filters)' },
    { id: 'reference-small-cnn', role: 'reference', label: 'small CNN (16 filters)' },
    { id: 'reference-efficientnet-b0', role: 'reference', label: 'EfficientNet-B0', labelWithResolution: true },
  ];
  expect(modelsEvaluated(calls.of('evaluateModel'))).toEqual(evaluated);
  expect(calls.of('evaluateModel')[3].model).toMatchObject({ modelKey: runLayout(input.runId).training('reference/efficientnet-b0').modelJson, modelWeightsKey: runLayout(input.runId).training('reference/efficientnet-b0').modelWeights });
});

test("without elastic training a small-CNN reference is trained with the train stage's settings at 16 filters, and measured only by evaluation", async () => {
  const input = planned(
    `  train: { epochs: 3, model: { filters: 8 } }
  evaluation: { referenceModels: [small-cnn] }`,
    newRunId('train-reference'),
  );
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);

  expect(stageNames(result)).toEqual(['train', 'reference-small-cnn', 'evaluation']);
  expect(calls.of('trainClassifier').map((t) => [t.stage, t.train.model.filters, t.train.epochs])).toEqual([
    ['train', 8, 3],
    ['reference/small-cnn', 16, 3],
  ]);
  // The train stage's model is measured on both targets; the reference only inside evaluation.
  expect(calls.of('measureLatency').map((m) => m.resultKey)).toEqual([runLayout(input.runId).training('train').latency('proxy'), runLayout(input.runId).training('train').latency('cpu')]);
  expect(modelsEvaluated(calls.of('evaluateModel'))).toEqual([
    { id: 'train', role: 'trained', label: 'small CNN (8 filters)' },
    { id: 'reference-small-cnn', role: 'reference', label: 'small CNN (16 filters)' },
  ]);
});

test.each([
  ['a reference the train stage cannot train', false, ['train'], ' (the train stage trains small CNNs only)'],
  // The DSL refuses this plan; the workflow must refuse it too, should a history hold one.
  ['a reference with nothing to train it like', true, [], ''],
])('%s is refused for good, in the reference stage', async (_what, withoutTrain, before, suffix) => {
  const input = planned('  train: { epochs: 1 }\n  evaluation: { referenceModels: [efficientnet-b0] }', newRunId('bad-reference'));
  if (withoutTrain) delete input.stages.train;
  const calls = stubs.serve(everyStub());
  const handle = await stubs.start(pipelineWorkflow, input);
  const { root } = await failureOf(handle.result());
  expect(root).toMatchObject({ type: 'PipelineValidationError', message: `reference model efficientnet-b0 needs stages.elasticTraining to be trained like the pipeline's models${suffix}` });
  expect(calls.of('evaluateModel')).toEqual([]);
  const status = await handle.query(pipelineStatusQuery);
  expect(status.completed.map((s) => s.stage)).toEqual(before);
  expect(status.current).toEqual({ stage: 'reference-efficientnet-b0', workflowId: stageWorkflowId(input.runId, 'reference-efficientnet-b0') });
});

test("a failing stage fails the run as that stage's child workflow, and no later stage starts", async () => {
  const input = planned(
    `  baselineSearch: { strategy: { plugin: random, config: { trials: 2 } }, epochs: 1, latencyWeight: 0 }
  compoundScaling: { baseline: search, gridStep: 0.1, maxCoefficient: 1.5, tolerance: 0.05, trialBudget: 2, epochs: 1, phis: [1] }
  elasticTraining: { epochs: 1 }`,
    newRunId('failing'),
  );
  const calls = stubs.serve(
    everyStub({
      scalingTrial: async (t) => {
        if (t.point.alpha > 1) throw ApplicationFailure.nonRetryable('the scaled network has no valid stride', 'ArchError');
        return scalingResult(t, { validationAccuracy: 0.5 });
      },
    }),
  );
  const handle = await stubs.start(pipelineWorkflow, input);
  const { chain, root } = await failureOf(handle.result());

  const stage = chain.find((c): c is ChildWorkflowFailure => c instanceof ChildWorkflowFailure);
  expect(stage?.execution.workflowId).toBe(stageWorkflowId(input.runId, 'scaling'));
  expect(stage?.workflowType).toBe('compoundScalingWorkflow');
  expect(root).toMatchObject({ type: 'ArchError', message: 'the scaled network has no valid stride' });
  expect(calls.of('elasticCoordinator')).toEqual([]);
  const status = await handle.query(pipelineStatusQuery);
  expect(status.completed.map((s) => s.stage)).toEqual(['search']);
  expect(status.current?.stage).toBe('scaling');
});

test("a search with a user's strategy runs on its strategy set's queue and sends its work to the run's own queues", async () => {
  const base = planned('  baselineSearch: { strategy: { plugin: random, config: { trials: 2 } }, epochs: 1, latencyWeight: 0 }', newRunId('strategy-set'));
  const search = base.stages.search!;
  if (search.mode !== 'multi-trial') throw new Error('expected a multi-trial plan');
  const input: PipelineWorkflowInput = { ...base, stages: { search: { ...search, strategySet: { id: STRATEGY_SET, modules: [] } } } };
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(pipelineWorkflow, input);

  const child = await stubs.env.client.workflow.getHandle(stageWorkflowId(input.runId, 'search')).describe();
  expect(child.taskQueue).toBe(strategyQueueOf(stubs.taskQueue, STRATEGY_SET));
  expect(calls.queuesOf('trainTrial')).toEqual([trialQueueOf(stubs.taskQueue)]);
  expect(calls.queuesOf('writeJson')).toEqual([stubs.taskQueue]);
  expect(result.search?.mode).toBe('multi-trial');
});
