/** evaluationWorkflow with stub activities: every model in turn, then one summary of them all. */
import { ApplicationFailure } from '@temporalio/client';
import type { ModelToEvaluate } from '../../activities/evaluate-model';
import { runLayout } from '../../core/run-layout';
import { evaluationProgressQuery, evaluationWorkflow, labelOf, type EvaluationWorkflowInput } from '../../workflows/evaluation';
import { useStubWorkers } from '../support/workflow-env';
import { evaluated, everyStub, failureOf, newRunId, sleep } from './stubs';

jest.setTimeout(60_000);
const stubs = useStubWorkers();

const model = (id: string, role: ModelToEvaluate['role'], kind: string): ModelToEvaluate => ({ id, role, ...labelOf(kind), modelKey: `${id}/model.json`, modelWeightsKey: `${id}/weights.bin` });
const MODELS = [model('elastic-phi-1', 'scaled', 'phi-1'), model('train', 'trained', 'small-cnn'), model('reference-efficientnet-b0', 'reference', 'efficientnet-b0')];

function evaluationInput(extra: Partial<EvaluationWorkflowInput> = {}): EvaluationWorkflowInput {
  return {
    runId: newRunId('evaluation'),
    pipelineName: 'workflow-test',
    artifactLocation: '/nonexistent',
    seed: 7,
    dataset: { name: 'fashion-mnist', resolution: 28, validationFraction: 0.1 },
    batchSize: 256,
    warmupRuns: 2,
    repeats: 5,
    targets: [
      { id: 'cpu', plugin: 'node-cpu', config: { threads: 1 } },
      { id: 'proxy', plugin: 'macs', config: {} },
    ],
    pluginFiles: [],
    models: MODELS,
    ...extra,
  };
}

test('evaluates every model in turn, then summarises their results in model order', async () => {
  const input = evaluationInput({ checkpointEverySeconds: 15, heartbeatTimeoutSeconds: 90 });
  let evaluating = 0;
  let mostAtOnce = 0;
  const calls = stubs.serve(
    everyStub({
      evaluateModel: async (e) => {
        mostAtOnce = Math.max(mostAtOnce, ++evaluating);
        await sleep(20);
        evaluating--;
        return evaluated(e);
      },
    }),
  );
  const handle = await stubs.start(evaluationWorkflow, input);
  const result = await handle.result();

  expect(calls.names()).toEqual(['evaluateModel', 'evaluateModel', 'evaluateModel', 'summarizeEvaluation']);
  // One at a time: a latency measured next to another model's would measure both.
  expect(mostAtOnce).toBe(1);
  const evaluations = calls.of('evaluateModel');
  expect(evaluations.map((e) => [e.model, e.index, e.count])).toEqual(MODELS.map((m, i) => [m, i + 1, 3]));
  for (const e of evaluations) expect(e).toMatchObject({ runId: input.runId, targets: input.targets, batchSize: 256, warmupRuns: 2, repeats: 5, checkpointEverySeconds: 15, dataset: input.dataset });
  expect(calls.all[0].heartbeatTimeoutMs).toBe(90_000);
  // The summary names the targets by id and plugin; their configs stay out of it.
  expect(calls.of('summarizeEvaluation')).toEqual([
    { runId: input.runId, pipelineName: 'workflow-test', artifactLocation: '/nonexistent', targets: [{ id: 'cpu', plugin: 'node-cpu' }, { id: 'proxy', plugin: 'macs' }], resultKeys: MODELS.map((m) => runLayout(input.runId).evaluation.model(m.id)) },
  ]);
  expect(result).toEqual({ summaryKey: runLayout(input.runId).evaluation.summary, models: evaluations.map(evaluated) });
  expect(await handle.query(evaluationProgressQuery)).toEqual({ index: 3, count: 3 });
});

test('a stage without its own heartbeat timeout allows ten silent minutes', async () => {
  const calls = stubs.serve(everyStub());
  await stubs.execute(evaluationWorkflow, evaluationInput({ models: [MODELS[0]] }));
  expect(calls.all[0].heartbeatTimeoutMs).toBe(600_000);
});

test('nothing to evaluate is refused for good before any activity runs', async () => {
  const calls = stubs.serve(everyStub());
  const { root } = await failureOf(stubs.execute(evaluationWorkflow, evaluationInput({ models: [] })));
  expect(root).toMatchObject({ type: 'PipelineValidationError', message: 'nothing to evaluate: no earlier stage produced a trained model' });
  expect(calls.all).toEqual([]);
});

test('a model whose evaluation fails for good fails the stage; no later model is evaluated and nothing is summarised', async () => {
  const calls = stubs.serve(
    everyStub({
      evaluateModel: async (e) => {
        if (e.index === 2) throw ApplicationFailure.nonRetryable("the model's input does not fit the data set", 'ModelDataMismatchError');
        return evaluated(e);
      },
    }),
  );
  const handle = await stubs.start(evaluationWorkflow, evaluationInput());
  const { root } = await failureOf(handle.result());
  expect(root.type).toBe('ModelDataMismatchError');
  expect(calls.of('evaluateModel').map((e) => e.model.id)).toEqual(['elastic-phi-1', 'train']);
  expect(calls.of('summarizeEvaluation')).toEqual([]);
  expect(await handle.query(evaluationProgressQuery)).toEqual({ index: 2, count: 3, model: { id: 'train', label: 'small CNN (16 filters)' } });
});
