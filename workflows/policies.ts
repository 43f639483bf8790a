/**
 * How activities are retried: one retry policy per kind of work, each listing the failures a retry
 * cannot mend (core/failures.ts) as non-retryable. Every workflow takes its activity retries from
 * here, so a new permanent failure is named once and holds in every stage.
 */
import type { RetryPolicy } from '@temporalio/workflow';
import { PERMANENT_FAILURES } from '../core/failures';

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
