/**
 * The messages of the elastic data plane. Every request is a POST with `authorization: Bearer
 * <run token>`; JSON bodies except /gradient and the work reply, which carry floats (wire.ts).
 *
 *   /join      JoinRequest            -> JoinReply
 *   /next      { memberId }           -> work (binary: WorkHeader + trainable + non-trainable weights)
 *                                         | { kind: 'wait' } (ask again) | { kind: 'done' }
 *                                         | 410 { kind: 'rejoin' } (dropped: join again)
 *   /gradient  binary: GradientHeader + mean gradient + non-trainable weights after the step
 *   /leave     { memberId }           -> { ok }
 */
export interface JoinRequest {
  /** Shown in logs: host and process of the worker. */
  name: string;
  /** layoutSignature of the model the worker built; must match the coordinator's. */
  signature: string;
}

export type JoinReply = { kind: 'joined'; memberId: string } | { kind: 'done' };

export type NextReply = { kind: 'wait' } | { kind: 'done' } | { kind: 'rejoin' };

export interface WorkHeader {
  kind: 'work';
  step: number;
  epoch: number;
  /** Training-set indices of this worker's slice of the global batch. */
  ids: number[];
  seed: number;
}

export interface GradientHeader {
  memberId: string;
  step: number;
  count: number;
  /** Mean loss over the slice. */
  loss: number;
}
