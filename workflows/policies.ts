/**
 * How activities are retried: one table of the failures a retry cannot mend, and one retry policy
 * per kind of work. Every workflow takes its activity retries from here, so a new permanent
 * failure is named once and holds in every stage.
 */
import type { RetryPolicy } from '@temporalio/workflow';

/**
 * Failure types (an activity's error name, or an ApplicationFailure's type) that fail the attempt
 * for good: the same input on any worker would fail the same way, so retrying only delays the
 * message. The run fails with it, and `nas resume` continues once the cause is fixed.
 */
export const PERMANENT_FAILURES: Readonly<Record<string, string>> = {
  PipelineValidationError: 'the pipeline itself is wrong',
  PluginLoadError: 'a plugin module does not load; the same file fails again',
  DatasetNotFoundError: 'the data set is not where the pipeline says',
  DatasetFormatError: 'the data set files are not what the pipeline says',
  ArtifactNotFound: 'an earlier stage never stored what this one needs',
  ArchError: 'the architecture is not one the space can build',
  MissingOpsError: 'the latency table lacks ops the space uses',
  UnsupportedTargetConfigError: 'the hardware target cannot run with this configuration',
  ModelDataMismatchError: "the model's input does not fit the data set",
  CheckpointMismatchError: 'the checkpoint belongs to other settings than this run',
  SupernetCheckpointError: 'the supernet checkpoint belongs to other settings than this run',
  ParticipantRejectedError: 'the elastic coordinator refused this participant for good',
  DataPlaneKeyError: "the installation's data-plane key is missing or readable by others",
  TrainingDivergedError: 'a retry from the same checkpoint diverges again',
  ArtifactStoreFullError: 'the artifact store has no space left until someone frees it',
  ArtifactStoreAccessError: "the artifact store's folder is read-only or not ours",
};

const permanent = Object.keys(PERMANENT_FAILURES);

/**
 * The kinds of activity, by how a failed attempt should be retried:
 * - `short`: minutes of work or bookkeeping; ten attempts ride out a worker death or an outage.
 * - `checkpointed`: a long training that resumes from its newest checkpoint; more attempts, since
 *   a long one meets more deaths.
 * - `elastic`: the elastic coordinator; every attempt resumes from a checkpoint and Temporal never
 *   resets the count when an attempt made progress, so soon and many.
 * - `slot`: an elastic participant's slot, which outlives any number of worker deaths.
 */
export type RetryKind = 'short' | 'checkpointed' | 'elastic' | 'slot';

const ATTEMPTS: Record<RetryKind, Pick<RetryPolicy, 'maximumAttempts' | 'maximumInterval'>> = {
  short: { maximumAttempts: 10, maximumInterval: '30s' },
  checkpointed: { maximumAttempts: 25, maximumInterval: '30s' },
  elastic: { maximumAttempts: 100, maximumInterval: '10s' },
  slot: { maximumAttempts: Number.POSITIVE_INFINITY, maximumInterval: '10s' },
};

export function retryPolicy(kind: RetryKind): RetryPolicy {
  return { initialInterval: '1s', backoffCoefficient: 2, ...ATTEMPTS[kind], nonRetryableErrorTypes: permanent };
}
