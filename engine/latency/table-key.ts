/**
 * The names of cached latency tables. Tables are shared by every run in a store and found by
 * these hashes alone, so a change to any byte hashed here orphans every table measured so far:
 * test/unit/engine/latency/table-key.test.ts pins the outputs.
 */
import { createHash } from 'node:crypto';
import type { OpSignature } from '../../core/ops';
import { opKey } from './ops';
import { distinctOps, type SpaceOps } from './space-ops';

/** JSON with object keys sorted at every level, so equal values hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * What the table must cover: the sorted set of op keys. Hashing ops rather than the space means
 * two spaces that differ only where no op changes (head dropout, a stage order that yields the
 * same shapes) share a table, and the space's input size is part of every key.
 */
export function spaceHash(ops: SpaceOps | readonly OpSignature[]): string {
  const list = Array.isArray(ops) ? (ops as readonly OpSignature[]) : distinctOps(ops as SpaceOps);
  return sha256(canonicalJson(['hwnas.space-ops/1', [...new Set(list.map(opKey))].sort()])).slice(0, 20);
}

export interface TargetIdentity {
  plugin: string;
  /** The plugin's version: a new version may measure differently, so it gets a new table. */
  version: string;
  /** The resolved (defaults filled) plugin config; batch size, backend, build all change latency. */
  config: unknown;
  /** Anything else the measurement depends on that the config only names (a lut file's digest). */
  salt?: string;
}

/**
 * The content hash that names a cached table: the ops to measure and the exact target. The tag is
 * spelled here rather than taken from the table format's constant: a new file format need not
 * rename the tables already measured.
 */
export function tableHash(space: string, target: TargetIdentity): string {
  return sha256(canonicalJson(['hwnas.latency-table/1', space, target.plugin, target.version, target.config, target.salt ?? ''])).slice(0, 24);
}

/**
 * Where a table lives in the artifact store: outside `runs/`, because any run with the same ops and
 * target reuses it. The partial table next to it is what an interrupted measurement resumes from.
 */
export function latencyTableKeys(plugin: string, hash: string): { tableKey: string; partialKey: string } {
  return { tableKey: `latency-tables/${plugin}/${hash}.json`, partialKey: `latency-tables/${plugin}/${hash}.partial.json` };
}
