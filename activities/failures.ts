/**
 * How activities report a training that diverged (engine/train/divergence.ts): a non-retryable
 * ApplicationFailure of type TrainingDivergedError, its message prefixed with where it happened
 * (the stage, trial or model), since a retry from the same checkpoint would diverge again. The
 * workflows list the same type in their nonRetryableErrorTypes.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { TrainingDivergedError } from '../engine/train/divergence';

/** The failure to throw for `err`: a non-retryable one naming `where` when it is a divergence, else `err` itself. */
export function divergenceFailure(err: unknown, where: string): unknown {
  if (!(err instanceof TrainingDivergedError)) return err;
  return ApplicationFailure.nonRetryable(`${where}: ${err.message}`, err.name);
}
