/**
 * The messages of the elastic data plane. Every request is a POST with `authorization: Bearer
 * <run token>`; JSON bodies except /gradient and the work reply, which carry floats (wire.ts).
 *
 *   /join      JoinRequest            -> JoinReply
 *   /next      { memberId }           -> work (binary: WorkHeader + trainable + non-trainable weights)
 *                                         | { kind: 'wait' } (ask again) | { kind: 'done' }
 *                                         | 410 { kind: 'rejoin' } (dropped: join again)
 *   /gradient  binary: GradientHeader + mean gradient + non-trainable weights after the step
 *                                     -> { ok } | 410 { kind: 'rejoin' } | 400 (malformed)
 *                                         | 422 (a non-finite loss or value: refused, the run fails)
 *   /diverged  DivergedReport         -> { ok } (the worker computed a non-finite loss or gradient)
 *   /leave     { memberId }           -> { ok }
 *
 * Bodies are bounded: a /gradient by the model's size plus a small margin, the JSON ones to a few
 * KiB; a body past its bound is refused with 413 as soon as it passes it, without reading the rest.
 * Header numbers are never NaN or infinite (wire.ts refuses to encode them; JSON would send null).
 */
export const ENDPOINTS = ['/join', '/next', '/gradient', '/leave', '/diverged'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

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

/** A worker's own finding that its step went non-finite: the coordinator fails the run, naming it. */
export interface DivergedReport {
  memberId: string;
  step: number;
  /** What was not finite, e.g. "loss is NaN" or "the gradient: 3 of 832 values are not finite, ...". */
  detail: string;
}
