/**
 * elasticTrainingWorkflow with stub activities: the coordinator on the main queue, workers.max
 * participant slots on the elastic queue sharing its salt, slots that fail left to the coordinator,
 * and slots cancelled once the coordinator is done, whichever way it ends.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/client';
import type { ElasticParticipantInput, ElasticTrainingInput } from '../../activities/elastic-training';
import { runLayout } from '../../core/run-layout';
import { elasticTrainingWorkflow, type ElasticTrainingWorkflowInput } from '../../workflows/elastic-training';
import { elasticQueueOf } from '../../workflows/task-queues';
import { useStubWorkers, type StubCalls } from '../support/workflow-env';
import { elasticResult, failureOf, newRunId, planned, sleep } from './stubs';

jest.setTimeout(60_000);
const stubs = useStubWorkers();

/** An elastic training of the stage's fallback model, as the pipeline schedules it. */
function elasticInput(): ElasticTrainingWorkflowInput {
  const p = planned('  elasticTraining: { epochs: 2, workers: { min: 1, max: 3 }, heartbeatTimeoutSeconds: 40, weightDecay: 0.001 }', newRunId('elastic'));
  const { config, fallbackModel, dataset } = p.stages.elastic!;
  return { runId: p.runId, artifactLocation: p.artifactLocation, seed: p.seed, dataset: dataset ?? p.dataset, stage: 'elastic/small-cnn', elastic: config, model: fallbackModel, participantQueue: elasticQueueOf(stubs.taskQueue) };
}

/** Waits (10 s at most) until `count` slots were taken, as a real coordinator trains only once workers came. */
async function slotsTaken(calls: StubCalls, count: number): Promise<void> {
  for (let waited = 0; calls.of('elasticParticipant').length < count && waited < 10_000; waited += 20) await sleep(20);
}

test("offers workers.max slots on the elastic queue, each with the coordinator's salt, and returns the coordinator's result", async () => {
  const input = elasticInput();
  const calls = stubs.serve({
    elasticCoordinator: async (c) => {
      await slotsTaken(calls, 3);
      return elasticResult(c);
    },
    elasticParticipant: async () => ({ steps: 5, samples: 320 }),
  });
  const result = await stubs.execute(elasticTrainingWorkflow, input);

  const [coordinator] = calls.of('elasticCoordinator') as ElasticTrainingInput[];
  const { participantQueue, ...rest } = input;
  expect(participantQueue).toBe(elasticQueueOf(stubs.taskQueue));
  expect(coordinator).toEqual({ ...rest, salt: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  expect(calls.queuesOf('elasticCoordinator')).toEqual([stubs.taskQueue]);
  expect(calls.all.find((c) => c.activity === 'elasticCoordinator')?.heartbeatTimeoutMs).toBe(40_000);

  const slots = calls.of('elasticParticipant') as ElasticParticipantInput[];
  expect(slots.map((s) => s.slot).sort()).toEqual([0, 1, 2]);
  expect(calls.queuesOf('elasticParticipant')).toEqual([elasticQueueOf(stubs.taskQueue)]);
  for (const s of slots) expect(s).toMatchObject({ salt: coordinator.salt, runId: input.runId, stage: 'elastic/small-cnn', model: input.model, dataset: input.dataset, weightDecay: 0.001 });
  expect(result).toEqual(elasticResult(coordinator));
});

test('a slot that fails for good leaves the training to the coordinator and the others', async () => {
  const input = elasticInput();
  const calls = stubs.serve({
    elasticCoordinator: async (c) => {
      await slotsTaken(calls, 3);
      return elasticResult(c);
    },
    elasticParticipant: async (p) => {
      if ((p as ElasticParticipantInput).slot === 1) throw ApplicationFailure.nonRetryable('the coordinator refused this participant', 'ParticipantRejectedError');
      return { steps: 5, samples: 320 };
    },
  });
  const result = await stubs.execute(elasticTrainingWorkflow, input);
  expect(result.modelKey).toBe(runLayout(input.runId).elastic('elastic/small-cnn').modelJson);
  // Not retried: the rejection is permanent.
  expect(calls.all.filter((c) => c.activity === 'elasticParticipant').map((c) => c.attempt)).toEqual([1, 1, 1]);
});

test('a coordinator that fails for good fails the training, and the slots still waiting are cancelled', async () => {
  const input = elasticInput();
  const cancelled: number[] = [];
  const calls = stubs.serve({
    elasticCoordinator: async () => {
      await slotsTaken(calls, 3);
      throw ApplicationFailure.nonRetryable('a retry from the same checkpoint diverges again', 'TrainingDivergedError');
    },
    // A slot serves until it is cancelled, as a real participant does once training ends.
    elasticParticipant: async (p) => {
      const ctx = Context.current();
      try {
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(50);
        }
      } catch (err) {
        if (err instanceof CancelledFailure) cancelled.push((p as ElasticParticipantInput).slot);
        throw err;
      }
    },
  });
  const handle = await stubs.start(elasticTrainingWorkflow, input);
  const { root } = await failureOf(handle.result());
  expect(root).toMatchObject({ type: 'TrainingDivergedError' });
  // The workflow itself asked for each slot's end, before it closed.
  const { events } = await handle.fetchHistory();
  expect(events?.filter((e) => e.activityTaskCancelRequestedEventAttributes)).toHaveLength(3);
  for (let waited = 0; cancelled.length < 3 && waited < 10_000; waited += 50) await sleep(50);
  expect(cancelled.sort()).toEqual([0, 1, 2]);
});
