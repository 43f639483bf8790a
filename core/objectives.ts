/**
 * The objectives a search ranks architectures by. One formula serves the one-shot supernet (its
 * architecture loss or reward) and the multi-trial workflow (its trial score), so both price
 * latency the same way; workflow code computes it, so it has no imports.
 */

/**
 * Where the latency term of the architecture objective aims. Without a target every millisecond
 * costs lambda (ProxylessNAS). With one, the term is lambda * |LAT / targetMs - 1| (TuNAS's
 * absolute reward, Bender et al., 2020): being faster than the target is penalised as much as
 * being slower, so the search spends the budget and chooses how by accuracy, instead of giving
 * up whatever saves the most milliseconds (in practice, depth). LAT there is the whole network's:
 * `fixedMs` (stem, head) plus the mixed ops' latency.
 */
export interface LatencyTarget {
  ms: number;
  fixedMs?: number;
}

export interface LatencyPenalty {
  /** The term added to the loss (subtracted from a reward) at this latency. */
  value: number;
  /** d value / d (mixed-op latency in ms): what multiplies dE[LAT]/dalpha. */
  slope: number;
}

/** Throws unless the target is a positive number of ms. */
export function checkLatencyTarget(target: LatencyTarget): void {
  if (!(target.ms > 0)) throw new Error(`latency target must be a positive number of ms, got ${target.ms}`);
}

/** The latency term and its slope at mixed-op latency `opsMs`, with weight lambda. */
export function latencyPenalty(opsMs: number, lambda: number, target?: LatencyTarget): LatencyPenalty {
  if (!target) return { value: lambda * opsMs, slope: lambda };
  checkLatencyTarget(target);
  const relative = (opsMs + (target.fixedMs ?? 0)) / target.ms - 1;
  return { value: lambda * Math.abs(relative), slope: (lambda * Math.sign(relative)) / target.ms };
}

/** How a multi-trial search prices a trial's latency: its weight lambda against a reference latency. */
export interface TrialLatencyObjective {
  weight: number;
  referenceMs: number;
  /** `linear` (the default): lambda * LAT / LAT_ref; `absolute`: lambda * |LAT / LAT_ref - 1|, the reference a target to hit. */
  penalty?: 'linear' | 'absolute';
}

/** A trial's score: its validation accuracy less the latency penalty, where latency plays a part and was measured. */
export function trialScore(m: { validationAccuracy: number; latencyMs?: number }, latency: TrialLatencyObjective | undefined): number {
  if (!latency || m.latencyMs === undefined) return m.validationAccuracy;
  // The one-shot search's rule; linear keeps weight * (LAT / ref), the arithmetic of runs already in flight.
  const penalty =
    latency.penalty === 'absolute' ? latencyPenalty(m.latencyMs, latency.weight, { ms: latency.referenceMs }) : latencyPenalty(m.latencyMs / latency.referenceMs, latency.weight);
  return m.validationAccuracy - penalty.value;
}

/**
 * Compound scaling's accuracy-latency objective, MnasNet's reward (Tan et al., 2019):
 * ACC x (LAT / LAT_ref)^-w, so a net twice as slow as the reference scores 2^-w of its accuracy.
 */
export function accuracyLatencyReward(validationAccuracy: number, latencyMs: number, referenceMs: number, weight: number): number {
  return validationAccuracy * (latencyMs / referenceMs) ** -weight;
}
