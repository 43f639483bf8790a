/**
 * Filling a table: each distinct op measured once, in order, resumable. How an op is measured is
 * the caller's (a target's `measureOp`); where the table and its partial copies are stored is the
 * activity's. This module owns only the order, the resume and the entry each measurement becomes.
 */
import type { LatencyMeasurement, OpSignature } from '../../core/ops';
import { opKey } from './ops';
import { TABLE_FORMAT, type LatencyEntry, type OpLatencyTable } from './table';
import type { TargetIdentity } from './table-key';

export interface BuildTableOptions {
  target: TargetIdentity;
  spaceHash: string;
  hash: string;
  measuredBy?: OpLatencyTable['measuredBy'];
  /** Entries measured by an earlier attempt; their ops are not measured again. */
  resumeFrom?: readonly LatencyEntry[];
  /** Called after each op with (ops done, ops total, key of the op just done). */
  onProgress?(done: number, total: number, key: string): void;
  /** Called with the table so far after every `checkpointEvery` newly measured ops, and awaited: where a retry resumes from. */
  onCheckpoint?(partial: OpLatencyTable): Promise<void>;
  checkpointEvery?: number;
  signal?: AbortSignal;
}

/**
 * Measures each op once with `measure` (a target's measureOp) and returns the table, entries in
 * the order of `ops`. Entries of `resumeFrom` whose keys are among the ops are kept as measured.
 */
export async function measureOpTable(
  ops: readonly OpSignature[],
  measure: (op: OpSignature) => Promise<LatencyMeasurement>,
  o: BuildTableOptions,
): Promise<OpLatencyTable> {
  const wanted = new Set(ops.map(opKey));
  const done = new Map<string, LatencyEntry>();
  for (const e of o.resumeFrom ?? []) if (wanted.has(e.key)) done.set(e.key, e);
  const table = (): OpLatencyTable => ({
    format: TABLE_FORMAT,
    target: o.target.plugin,
    pluginVersion: o.target.version,
    config: o.target.config,
    spaceHash: o.spaceHash,
    hash: o.hash,
    ...(o.measuredBy ? { measuredBy: o.measuredBy } : {}),
    entries: ops.filter((op) => done.has(opKey(op))).map((op) => done.get(opKey(op))!),
  });
  const every = Math.max(1, o.checkpointEvery ?? 4);
  let sinceCheckpoint = 0;
  for (const op of ops) {
    const key = opKey(op);
    if (!done.has(key)) {
      o.signal?.throwIfAborted();
      const m = await measure(op);
      if (!Number.isFinite(m.medianMs) || m.medianMs < 0) throw new Error(`target ${o.target.plugin} measured ${key} as ${m.medianMs} ms`);
      done.set(key, { key, medianMs: m.medianMs, p90Ms: m.p90Ms ?? m.medianMs, repeats: m.repeats, op });
      if (++sinceCheckpoint >= every && done.size < wanted.size) {
        sinceCheckpoint = 0;
        await o.onCheckpoint?.(table());
      }
    }
    o.onProgress?.(done.size, wanted.size, key);
  }
  return table();
}
