/**
 * Elastic training of one model: a coordinator activity (the parameter server, checkpointed and
 * retried like any long activity) plus `workers.max` participant slots on the elastic task queue.
 * Each `nas worker` process serves at most one slot, so the slots Temporal has handed out are the
 * membership: a process that arrives takes a waiting slot, a process that dies loses its slot to
 * the heartbeat timeout and the slot is retried for the next process. The data itself goes over
 * the coordinator's HTTP data plane, never through Temporal.
 */
import { CancellationScope, isCancellation, log, proxyActivities, uuid4 } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { ElasticModelRef, ElasticTrainingInput, ElasticTrainingResult } from '../activities/elastic-training';
import { retryPolicy } from './policies';

export interface ElasticTrainingWorkflowInput extends Omit<ElasticTrainingInput, 'salt'> {
  /** Task queue of the participant slots (the main queue + "-elastic"). */
  participantQueue: string;
}

export type { ElasticModelRef, ElasticTrainingResult };

// A coordinator record that does not verify is retried (it is not in PERMANENT_FAILURES): the
// coordinator's next attempt writes a genuine one.

export async function elasticTrainingWorkflow(input: ElasticTrainingWorkflowInput): Promise<ElasticTrainingResult> {
  const heartbeatTimeout = input.elastic.heartbeatTimeoutSeconds * 1000;
  const { elasticCoordinator } = proxyActivities<typeof activities>({
    startToCloseTimeout: '7d',
    heartbeatTimeout,
    // Every attempt resumes from a checkpoint, so a death costs one interval, not the run: retry
    // soon (a 30 s cap made late recoveries take half a minute), and allow many deaths over a long
    // training, since Temporal never resets the attempt count when an attempt made progress.
    retry: retryPolicy('elastic'),
  });
  const { elasticParticipant } = proxyActivities<typeof activities>({
    taskQueue: input.participantQueue,
    startToCloseTimeout: '7d',
    heartbeatTimeout,
    // A slot outlives any number of worker deaths: it lasts as long as the training does.
    retry: retryPolicy('slot'),
  });

  // Not a secret: the activities derive the data plane's token from it with the installation's key
  // (engine/elastic/auth.ts), so neither this history nor the store holds anything that grants access.
  // Runs recorded before it made the token here and passed it in the activities' input; replaying
  // them schedules the same activities (the input is not compared), so no patch marker is needed.
  const salt = uuid4();
  const { participantQueue, ...common } = input;
  const slots = new CancellationScope();
  const participants = Array.from({ length: input.elastic.workers.max }, (_, slot) =>
    slots
      .run(() =>
        elasticParticipant({
          runId: input.runId,
          stage: input.stage,
          artifactLocation: input.artifactLocation,
          seed: input.seed,
          dataset: input.dataset,
          model: input.model,
          salt,
          weightDecay: input.elastic.weightDecay,
          labelSmoothing: input.elastic.labelSmoothing,
          augment: input.elastic.augment,
          slot,
        }),
      )
      // Slots end by cancellation once the coordinator is done. A slot that fails for good (a
      // rejected worker) leaves the others to carry on; the coordinator reports the outcome.
      .catch((err: unknown) => {
        if (!isCancellation(err)) log.warn(`elastic worker slot ${slot} ended: ${(err as Error).message}`);
      }),
  );
  try {
    return await elasticCoordinator({ ...common, salt });
  } finally {
    slots.cancel();
    await CancellationScope.nonCancellable(() => Promise.all(participants));
  }
}
