/**
 * Learning-rate policies for a changing number of workers (Dynamic mini-batch SGD, BRIEF 3.3).
 * Pure functions of (config, state, step, workers), so the coordinator's checkpoint holds the
 * whole policy in a few numbers and a resumed run replays the same rates.
 *
 * - `fixed-global-batch`: the global batch stays perWorkerBatch x workers.max, re-split over
 *   whoever is present; the rate never moves.
 * - `immediate-linear`: each worker keeps its batch, the global batch is k x perWorkerBatch and the
 *   rate jumps at once to k x the one-worker rate (the naive extension the paper shows degrades).
 * - `dynamic-sgd`: same batches, but on a change of k the rate moves linearly from where it stands
 *   to its new target over `windowIterations` steps.
 */
export type ElasticPolicyName = 'fixed-global-batch' | 'immediate-linear' | 'dynamic-sgd';

/** The rate over the whole run, on top of the policy's: kept, or decayed to zero along a cosine. */
export type ElasticSchedule = 'constant' | 'cosine';

export interface ElasticPolicyConfig {
  policy: ElasticPolicyName;
  /** Default `constant`, so that policy experiments compare the policies alone. */
  schedule?: ElasticSchedule;
  /** Rate of one worker at perWorkerBatch; scaled linearly with the global batch. */
  learningRate: number;
  perWorkerBatch: number;
  maxWorkers: number;
  windowIterations: number;
}

export interface PolicyState {
  /** Workers of the last step; a different count is a membership change. */
  workers: number;
  /** The rate of the last step. */
  rate: number;
  rampFrom: number;
  rampTarget: number;
  rampStartStep: number;
}

export function globalBatchFor(cfg: ElasticPolicyConfig, workers: number): number {
  return cfg.policy === 'fixed-global-batch' ? cfg.perWorkerBatch * cfg.maxWorkers : cfg.perWorkerBatch * Math.min(workers, cfg.maxWorkers);
}

/** Linear scaling: the rate that suits `workers` workers once any transition is over. */
export function targetRateFor(cfg: ElasticPolicyConfig, workers: number): number {
  return (cfg.learningRate * globalBatchFor(cfg, workers)) / cfg.perWorkerBatch;
}

export function initialPolicyState(cfg: ElasticPolicyConfig, workers: number): PolicyState {
  const rate = targetRateFor(cfg, workers);
  return { workers, rate, rampFrom: rate, rampTarget: rate, rampStartStep: 0 };
}

/** The rate for `step` with `workers` present, and the state to carry to the next step. */
export function rateForStep(cfg: ElasticPolicyConfig, state: PolicyState, step: number, workers: number): { rate: number; state: PolicyState } {
  let next = state;
  if (workers !== state.workers) {
    const target = targetRateFor(cfg, workers);
    next =
      cfg.policy === 'dynamic-sgd'
        ? { workers, rate: state.rate, rampFrom: state.rate, rampTarget: target, rampStartStep: step }
        : { workers, rate: target, rampFrom: target, rampTarget: target, rampStartStep: step };
  }
  let rate = next.rampTarget;
  if (cfg.policy === 'dynamic-sgd') {
    const progress = Math.min(1, (step - next.rampStartStep + 1) / cfg.windowIterations);
    rate = next.rampFrom + (next.rampTarget - next.rampFrom) * progress;
  }
  return { rate, state: { ...next, rate } };
}

/**
 * Whether the momentum buffer is rescaled when the rate changes. The update keeps the rate inside
 * the buffer (v = mu v + lr g; w -= v, as MXNet and Caffe do); Goyal et al.'s momentum correction
 * multiplies v by lr_new / lr_old so the history speaks at the current rate. Dynamic SGD keeps the
 * momentum consistent this way; immediate-linear is the uncorrected naive jump.
 */
export function correctsMomentum(policy: ElasticPolicyName): boolean {
  return policy !== 'immediate-linear';
}

/**
 * What the schedule multiplies the policy's rate by at `progress` (samples applied / samples of the
 * run, in [0, 1]). Measured in samples rather than steps because steps per epoch change with the
 * number of workers; a resumed run, whose progress comes from its checkpointed cursor, gets the
 * same factors.
 */
export function scheduleFactor(schedule: ElasticSchedule, progress: number): number {
  if (schedule === 'constant') return 1;
  return 0.5 * (1 + Math.cos(Math.PI * Math.min(1, Math.max(0, progress))));
}
