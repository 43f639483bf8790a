/**
 * The latency table as a file: what is stored in the artifact store, what a `lut` target reads
 * from a table measured elsewhere (a phone, a browser), and how the search reads prices out of it.
 * The search prices an architecture as the sum of its ops' entries and E[LAT] as a
 * softmax-weighted sum of them (ProxylessNAS section 3.3).
 */
import { z } from 'zod';
import { opKey, opMacs, parseOpKey } from './ops';
import type { SpaceOps } from './space-ops';

export const TABLE_FORMAT = 'hwnas.latency-table/1';

const OpSignatureSchema = z
  .object({
    op: z.enum(['mbconv', 'conv', 'pool', 'dense']),
    inputSize: z.number().int().min(1),
    inChannels: z.number().int().min(1),
    outChannels: z.number().int().min(1),
    kernel: z.number().int().min(1),
    stride: z.number().int().min(1),
    expansion: z.number().int().min(1).optional(),
    se: z.boolean().optional(),
  })
  .strict();

export const LatencyEntrySchema = z
  .object({
    key: z.string().min(1).describe('Op key as `opKey` writes it, e.g. mbconv_28x28x16_o24_k3_s2_e6_se1.'),
    medianMs: z.number().min(0).describe('Median latency of the op in milliseconds.'),
    p90Ms: z.number().min(0).optional().describe('90th percentile; defaults to the median where a tool reports none.'),
    repeats: z.number().int().min(0).optional().describe('Timed runs behind the median; 0 marks an estimate (nothing timed).'),
    op: OpSignatureSchema.optional().describe('The op itself, for readers; the key alone identifies it.'),
  })
  .strict();

/**
 * A latency table as stored in the artifact store and as a `lut` target reads it from a file.
 * Only `target` and `entries` (key and medianMs) are required, so a table measured with other
 * tools (TFLite's benchmark_model on a phone, a browser run) can be written by hand or by a
 * short script: one entry per op key.
 */
export const LatencyTableSchema = z
  .object({
    format: z.literal(TABLE_FORMAT).optional(),
    target: z.string().min(1).describe('What was measured: a plugin name or a device description ("pixel-7 tflite 4 threads").'),
    pluginVersion: z.string().optional(),
    config: z.unknown().optional().describe('The resolved config of the measuring plugin.'),
    spaceHash: z.string().optional().describe('`spaceHash` of the ops the table was built for.'),
    hash: z.string().optional().describe('`tableHash`: the name of the cached table.'),
    measuredBy: z.object({ runId: z.string().optional(), targetId: z.string().optional() }).strict().optional(),
    entries: z.array(LatencyEntrySchema).refine((es) => new Set(es.map((e) => e.key)).size === es.length, 'each op key at most once'),
  })
  .strict();

export type LatencyEntry = z.output<typeof LatencyEntrySchema>;
export type OpLatencyTable = z.output<typeof LatencyTableSchema>;

export class LatencyTableFormatError extends Error {
  constructor(source: string, detail: string) {
    super(`latency table ${source} is not valid: ${detail}\n  expected { "target": "...", "entries": [{ "key": "mbconv_28x28x16_o24_k3_s2_e6_se1", "medianMs": 1.2 }, ...] }`);
    this.name = 'LatencyTableFormatError';
  }
}

/** Parses and validates a table's JSON text; `source` names it in errors. */
export function parseLatencyTable(text: string, source: string): OpLatencyTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LatencyTableFormatError(source, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const parsed = LatencyTableSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LatencyTableFormatError(source, `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function entriesByKey(table: OpLatencyTable): Map<string, LatencyEntry> {
  return new Map(table.entries.map((e) => [e.key, e]));
}

export class MissingOpsError extends Error {
  constructor(readonly keys: string[], source: string) {
    const shown = keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, and ${keys.length - 5} more` : '');
    super(`latency table ${source} has no entry for ${keys.length} op(s): ${shown}; measure them, or use the lut target with missing: macs`);
    this.name = 'MissingOpsError';
  }
}

/**
 * The (decision, option) -> ms matrix a search uses, in the order of `decisionsOf(space)`: the
 * median of each option's op, 0 for the zero op. Throws `MissingOpsError` naming every op the
 * table lacks, rather than pricing them at 0 (which would make them look free to the search).
 */
export function latencyMatrix(table: OpLatencyTable, ops: SpaceOps): number[][] {
  const byKey = entriesByKey(table);
  const missing = new Set<string>();
  const matrix = ops.decisions.map((d) =>
    d.options.map((o) => {
      if (!o) return 0;
      const entry = byKey.get(opKey(o));
      if (!entry) missing.add(opKey(o));
      return entry?.medianMs ?? NaN;
    }),
  );
  if (missing.size) throw new MissingOpsError([...missing], `for target ${table.target}`);
  return matrix;
}

/**
 * Latency of the ops every architecture has (stem, head, pool, classifier). 0 when `ops` has none
 * (enumerated without channels and classes) or when the table holds none of them: pipeline tables
 * measured before they priced the whole net hold only the searched blocks, and a run in flight
 * with one keeps the blocks-only latency it started with. A table holding some of them but not
 * all is an error naming the missing ones.
 */
export function fixedLatencyMs(table: OpLatencyTable, ops: SpaceOps): number {
  const byKey = entriesByKey(table);
  const missing = ops.fixed.filter((o) => !byKey.has(opKey(o))).map(opKey);
  if (missing.length === ops.fixed.length) return 0;
  if (missing.length) throw new MissingOpsError(missing, `for target ${table.target}`);
  return ops.fixed.reduce((s, o) => s + byKey.get(opKey(o))!.medianMs, 0);
}

/**
 * Milliseconds per multiply-accumulate implied by a table: the median ratio over its ops with
 * MACs, so a few memory-bound ops (pooling, tiny SE convs) do not skew it. Used to estimate ops a
 * table lacks. Undefined when no entry has a parseable key.
 */
export function msPerMac(table: OpLatencyTable): number | undefined {
  const ratios = table.entries
    .map((e) => {
      const op = e.op ?? parseOpKey(e.key);
      const macs = op ? opMacs(op) : 0;
      return macs > 0 ? e.medianMs / macs : undefined;
    })
    .filter((r): r is number => r !== undefined)
    .sort((a, b) => a - b);
  if (!ratios.length) return undefined;
  const mid = (ratios.length - 1) / 2;
  return (ratios[Math.floor(mid)] + ratios[Math.ceil(mid)]) / 2;
}
