/**
 * The unit of hardware cost: one searchable op at one input size, and what a target measured for
 * it. Latency tables are keyed by ops, targets price them and the engine enumerates them, so the
 * type lives below all three.
 */

/** What a latency table is keyed by: one searchable op at one input size. */
export interface OpSignature {
  op: 'mbconv' | 'conv' | 'pool' | 'dense';
  inputSize: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  expansion?: number;
  se?: boolean;
}

export interface LatencyMeasurement {
  /** Median over the repeats, in milliseconds. */
  medianMs: number;
  p90Ms?: number;
  repeats: number;
}
