/**
 * The fixed-model training stage: one long activity that checkpoints and resumes. The retry
 * policy sits here, next to the call, so the failure model is visible where it applies.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { TrainClassifierInput, TrainClassifierResult } from '../activities/train-classifier';

export async function trainStageWorkflow(input: TrainClassifierInput): Promise<TrainClassifierResult> {
  const { trainClassifier } = proxyActivities<typeof activities>({
    // Generous: the heartbeat, not this, is what detects a dead worker.
    startToCloseTimeout: '12h',
    heartbeatTimeout: `${input.train.heartbeatTimeoutSeconds}s`,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: 25,
      nonRetryableErrorTypes: ['DatasetNotFoundError', 'DatasetFormatError', 'CheckpointMismatchError', 'PipelineValidationError'],
    },
  });
  return trainClassifier(input);
}
