/** trainStageWorkflow with stub activities: train, then measure on each target, one at a time. */
import { ApplicationFailure } from '@temporalio/client';
import { runLayout } from '../../core/run-layout';
import { trainStageWorkflow, type TrainStageInput } from '../../workflows/train-stage';
import { useStubWorkers } from '../support/workflow-env';
import { everyStub, failureOf, newRunId, planned, sleep } from './stubs';

jest.setTimeout(60_000);
const stubs = useStubWorkers();

/** The train stage's input as the pipeline builds it, for `stage` (a reference trains under its own folder). */
function trainInput(stage = 'train', targets?: string): TrainStageInput {
  const p = planned('  train: { epochs: 1, heartbeatTimeoutSeconds: 45 }', newRunId('train-stage'), targets);
  return { runId: p.runId, artifactLocation: p.artifactLocation, seed: p.seed, dataset: p.dataset, stage, train: p.stages.train!, targets: p.targets, pluginFiles: ['/plugins/target.ts'] };
}

test('trains, then measures the model on each target in turn, under the stage folder', async () => {
  const input = trainInput('reference/small-cnn');
  let measuring = 0;
  let mostAtOnce = 0;
  const calls = stubs.serve(
    everyStub({
      measureLatency: async (m) => {
        mostAtOnce = Math.max(mostAtOnce, ++measuring);
        await sleep(30);
        measuring--;
        return { targetId: m.targetId, plugin: m.plugin, medianMs: m.targetId.length, repeats: 3 };
      },
    }),
  );
  const result = await stubs.execute(trainStageWorkflow, input);

  expect(calls.names()).toEqual(['trainClassifier', 'measureLatency', 'measureLatency']);
  // The activity gets the training input alone: targets and plugin files are the workflow's.
  expect(calls.of('trainClassifier')).toEqual([{ runId: input.runId, stage: 'reference/small-cnn', artifactLocation: input.artifactLocation, seed: 7, dataset: input.dataset, train: input.train }]);
  expect(calls.all[0].heartbeatTimeoutMs).toBe(45_000);
  expect(mostAtOnce).toBe(1);
  const reference = runLayout(input.runId).training('reference/small-cnn');
  expect(calls.of('measureLatency')).toEqual([
    { artifactLocation: input.artifactLocation, modelJsonKey: reference.modelJson, modelWeightsKey: reference.modelWeights, resultKey: reference.latency('proxy'), targetId: 'proxy', plugin: 'macs', config: input.targets[0].config, pluginFiles: ['/plugins/target.ts'], inputShape: [28, 28, 1] },
    expect.objectContaining({ resultKey: reference.latency('cpu'), targetId: 'cpu', plugin: 'node-cpu' }),
  ]);
  expect(calls.all[1].heartbeatTimeoutMs).toBe(120_000);
  expect(result.latency).toEqual([
    { targetId: 'proxy', plugin: 'macs', medianMs: 5, repeats: 3 },
    { targetId: 'cpu', plugin: 'node-cpu', medianMs: 3, repeats: 3 },
  ]);
  expect(result.modelKey).toBe(reference.modelJson);
});

test('without targets the stage only trains', async () => {
  const calls = stubs.serve(everyStub());
  const result = await stubs.execute(trainStageWorkflow, trainInput('train', '{}'));
  expect(calls.names()).toEqual(['trainClassifier']);
  expect(result.latency).toEqual([]);
});

test('a measurement that fails for good fails the stage, and the next target is not measured', async () => {
  const calls = stubs.serve(
    everyStub({
      measureLatency: async (m) => {
        throw ApplicationFailure.nonRetryable(`hardware target "${m.plugin}" cannot run with this configuration`, 'UnsupportedTargetConfigError');
      },
    }),
  );
  const { root } = await failureOf(stubs.execute(trainStageWorkflow, trainInput()));
  expect(root.type).toBe('UnsupportedTargetConfigError');
  expect(calls.names()).toEqual(['trainClassifier', 'measureLatency']);
});
