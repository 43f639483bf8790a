/**
 * Per-op latency lookup tables (ProxylessNAS section 3.3): every candidate op of the search space,
 * at the input shape it sees in the network, is measured once on a target; the search then prices
 * an architecture as the sum of its ops' entries and E[LAT] as a softmax-weighted sum. Measuring
 * ops instead of whole networks is what makes the table small: a space with 10^15 architectures
 * has under a hundred distinct ops.
 *
 * This module knows ops and tables; it does not know where tables are stored (the activity does)
 * nor how a target measures (the plugins do). TensorFlow is required lazily, only by the
 * functions that build models, so table arithmetic runs without loading it.
 */
import { createHash } from 'node:crypto';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { z } from 'zod';
import { decisionsOf, type SearchSpace } from '../dsl/search-space';
import { SE_RATIO } from './arch/from-choices';
import type { LatencyMeasurement, OpSignature } from '../plugins/api';


/**
 * Ops are priced as the search builds them: Swish activations (the ArchSpec default that
 * `archFromChoices` uses), BatchNorm after every conv, inference mode (no drop-connect).
 */
const ACTIVATION = 'swish' as const;

// ---------------------------------------------------------------------------------------------
// Op signatures and keys

/** The output side length of a 'same'-padded conv: TensorFlow's ceil(in / stride). */
export function outputSize(inputSize: number, stride: number): number {
  return Math.ceil(inputSize / stride);
}

/**
 * The stable key of an op, e.g. `mbconv_28x28x16_o24_k3_s2_e6_se1`. Every field of the signature
 * is written out (defaults too), so two signatures that build the same op get the same key and
 * a key can be parsed back (`parseOpKey`), which is what lets a table measured elsewhere (a phone)
 * be read without the op objects.
 */
export function opKey(op: OpSignature): string {
  const base = `${op.op}_${op.inputSize}x${op.inputSize}x${op.inChannels}_o${op.outChannels}_k${op.kernel}_s${op.stride}`;
  return op.op === 'mbconv' ? `${base}_e${op.expansion ?? 1}_se${op.se ? 1 : 0}` : base;
}

const KEY_PATTERN = /^(mbconv|conv|pool|dense)_(\d+)x(\d+)x(\d+)_o(\d+)_k(\d+)_s(\d+)(?:_e(\d+)_se([01]))?$/;

/** The signature a key was made from, or undefined for a key this module did not write. */
export function parseOpKey(key: string): OpSignature | undefined {
  const m = KEY_PATTERN.exec(key);
  if (!m || m[2] !== m[3]) return undefined;
  const op = m[1] as OpSignature['op'];
  if ((op === 'mbconv') !== (m[8] !== undefined)) return undefined;
  const sig: OpSignature = { op, inputSize: +m[2], inChannels: +m[4], outChannels: +m[5], kernel: +m[6], stride: +m[7] };
  if (op === 'mbconv') {
    sig.expansion = +m[8];
    sig.se = m[9] === '1';
  }
  return sig;
}

/** The tensor shape of one example entering the op (batch excluded). */
export function opInputShape(op: OpSignature): number[] {
  return op.op === 'dense' ? [op.inChannels] : [op.inputSize, op.inputSize, op.inChannels];
}

/**
 * Multiply-accumulates of one forward pass of the op for one example, by the convention of
 * engine/macs.ts (convs, depthwise convs and dense layers; BN, activations, pooling, SE's gate
 * and the residual add count 0). A test checks it against `countMacs` of the built op.
 */
export function opMacs(op: OpSignature): number {
  const r = op.inputSize;
  const ro = outputSize(r, op.stride);
  switch (op.op) {
    case 'mbconv': {
      const e = op.expansion ?? 1;
      const mid = op.inChannels * e;
      const expand = e === 1 ? 0 : r * r * op.inChannels * mid;
      const depthwise = ro * ro * mid * op.kernel * op.kernel;
      // SE's two 1x1 convs act on the pooled 1x1 map; the reduction follows the block's input channels.
      const reduced = Math.max(1, Math.trunc(op.inChannels * SE_RATIO));
      const se = op.se ? 2 * mid * reduced : 0;
      const project = ro * ro * mid * op.outChannels;
      return expand + depthwise + se + project;
    }
    case 'conv':
      return ro * ro * op.outChannels * op.kernel * op.kernel * op.inChannels;
    case 'pool':
      return 0;
    case 'dense':
      return op.inChannels * op.outChannels;
  }
}

// ---------------------------------------------------------------------------------------------
// Enumerating the ops of a search space

export interface SpaceDims {
  /** Side length of the network's input images; default: the space's own `inputResolution`. */
  inputResolution?: number;
  /** Channels of the input images and classes of the classifier. With both, the fixed ops (stem, head, pool, classifier) are enumerated too. */
  inputChannels?: number;
  numClasses?: number;
}

export interface DecisionOps {
  /** The decision's id, `s2b1` = stage 2, block 1. */
  id: string;
  /** One op per option of the decision, in its order; null for the zero op (skip, costs 0). */
  options: (OpSignature | null)[];
}

export interface SpaceOps {
  inputResolution: number;
  /** In the order of `decisionsOf(space)`, one entry per decision. */
  decisions: DecisionOps[];
  /** Ops every architecture has (stem conv, head conv, global pool, classifier): a constant the search cannot change, but part of any total latency. Empty without `inputChannels` and `numClasses`. */
  fixed: OpSignature[];
}

type SpaceParts = Pick<SearchSpace, 'stages' | 'stem' | 'head'> & { inputResolution?: number };

/**
 * Every candidate op of every decision at its input shape. The shapes do not depend on which
 * options other decisions take: only a stage's first block strides or changes the channel count,
 * and it cannot be the zero op, so a skipped block leaves the next block's input unchanged.
 */
export function enumerateSpaceOps(space: SpaceParts, dims: SpaceDims = {}): SpaceOps {
  const inputResolution = dims.inputResolution ?? space.inputResolution;
  if (inputResolution === undefined) throw new Error('enumerateSpaceOps: give inputResolution (the search space does not set one)');
  let size = outputSize(inputResolution, space.stem.stride);
  let channels = space.stem.channels;
  const decisions: DecisionOps[] = [];
  for (const d of decisionsOf(space)) {
    const stage = space.stages[d.stage];
    const stride = d.block === 0 ? stage.stride : 1;
    const inChannels = d.block === 0 ? channels : stage.channels;
    decisions.push({
      id: d.id,
      options: d.options.map((o) =>
        o === 'zero'
          ? null
          : { op: 'mbconv', inputSize: size, inChannels, outChannels: stage.channels, kernel: o.kernel, stride, expansion: o.expansion, se: o.se },
      ),
    });
    size = outputSize(size, stride);
    channels = stage.channels;
  }
  const fixed: OpSignature[] = [];
  if (dims.inputChannels !== undefined && dims.numClasses !== undefined) {
    const stem = space.stem;
    fixed.push({ op: 'conv', inputSize: inputResolution, inChannels: dims.inputChannels, outChannels: stem.channels, kernel: stem.kernel, stride: stem.stride });
    fixed.push({ op: 'conv', inputSize: size, inChannels: channels, outChannels: space.head.channels, kernel: 1, stride: 1 });
    fixed.push({ op: 'pool', inputSize: size, inChannels: space.head.channels, outChannels: space.head.channels, kernel: size, stride: 1 });
    fixed.push({ op: 'dense', inputSize: 1, inChannels: space.head.channels, outChannels: dims.numClasses, kernel: 1, stride: 1 });
  }
  return { inputResolution, decisions, fixed };
}

/** The distinct ops to measure, each once, in network order (decisions first, then fixed ops). */
export function distinctOps(ops: SpaceOps): OpSignature[] {
  const seen = new Map<string, OpSignature>();
  for (const d of ops.decisions) for (const o of d.options) if (o && !seen.has(opKey(o))) seen.set(opKey(o), o);
  for (const o of ops.fixed) if (!seen.has(opKey(o))) seen.set(opKey(o), o);
  return [...seen.values()];
}

// ---------------------------------------------------------------------------------------------
// Hashes that name cached tables

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

/** The content hash that names a cached table: the ops to measure and the exact target. */
export function tableHash(space: string, target: TargetIdentity): string {
  return sha256(canonicalJson(['hwnas.latency-table/1', space, target.plugin, target.version, target.config, target.salt ?? ''])).slice(0, 24);
}

// ---------------------------------------------------------------------------------------------
// The table format (what is stored, and what a `lut` target reads)

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

// ---------------------------------------------------------------------------------------------
// Building a table

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

// ---------------------------------------------------------------------------------------------
// Ops as tfjs models (what node-cpu and wasm time, and what the MACs test counts)

export interface OpModelOptions {
  /** Seeds the random weights; latency does not depend on their values, only reproducibility does. */
  seed?: number;
}

/** The op alone, as a tiny functional model taking one example of `opInputShape(op)`. */
export function buildOpModel(op: OpSignature, opts: OpModelOptions = {}): LayersModel {
  // Lazy: keeps table arithmetic usable without loading TensorFlow.
  const { blockContext } = require('./blocks/context') as typeof import('./blocks/context');
  const { mbconv } = require('./blocks/mbconv') as typeof import('./blocks/mbconv');
  const { convBnAct } = require('./blocks/conv-bn-act') as typeof import('./blocks/conv-bn-act');
  const ctx = blockContext({ seed: opts.seed ?? 1, inferenceOnly: true });
  const { tf } = ctx;
  if (op.stride !== 1 && op.stride !== 2) throw new Error(`op ${opKey(op)}: stride must be 1 or 2`);
  const input = tf.input({ shape: opInputShape(op), name: 'op_input' });
  let y;
  switch (op.op) {
    case 'mbconv':
      if (op.kernel % 2 !== 1) throw new Error(`op ${opKey(op)}: kernel must be odd`);
      y = mbconv(ctx, input, {
        inChannels: op.inChannels,
        outChannels: op.outChannels,
        expansion: op.expansion ?? 1,
        kernel: op.kernel,
        stride: op.stride,
        seRatio: op.se ? SE_RATIO : 0,
        activation: ACTIVATION,
        dropConnect: 0,
        name: 'op',
      });
      break;
    case 'conv':
      y = convBnAct(ctx, input, { filters: op.outChannels, kernel: op.kernel, stride: op.stride, activation: ACTIVATION, name: 'op' });
      break;
    case 'pool':
      y = tf.layers.globalAveragePooling2d({ name: 'op_pool' }).apply(input);
      break;
    case 'dense':
      y = tf.layers.dense({ units: op.outChannels, name: 'op_dense' }).apply(input);
      break;
  }
  return tf.model({ inputs: input, outputs: y as typeof input, name: 'op' });
}

/** Layer config fields read below; tfjs types `getConfig()` loosely. */
interface ConvConfig {
  filters?: number;
  units?: number;
  kernelSize?: number[];
  strides?: number[];
}

function inputShapeOf(layer: { input: unknown }): number[] {
  const input = layer.input as { shape: (number | null)[] } | { shape: (number | null)[] }[];
  const shape = Array.isArray(input) ? input[0].shape : input.shape;
  return shape.slice(1).map((d) => d ?? 1);
}

/**
 * The ops of a model built by this project's builder (engine/models/arch-model.ts), recovered
 * from its layer names and configs: `stem_conv`, `blockNx_{expand_conv,dw_dwconv,se_reduce,
 * project_conv}`, `head_conv`, `avg_pool`, `predictions`. Lets a table price a whole trained model.
 * Throws on weighted layers it cannot attribute, so a foreign model is refused, not under-counted.
 */
export function opsOfModel(model: LayersModel): OpSignature[] {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const cfg = (name: string): ConvConfig | undefined => byName.get(name)?.getConfig() as ConvConfig | undefined;
  const ops: OpSignature[] = [];
  const claimed = new Set<string>();
  const conv = (name: string): void => {
    const layer = byName.get(name);
    if (!layer) return;
    const [size, , inChannels] = inputShapeOf(layer);
    const c = cfg(name)!;
    ops.push({ op: 'conv', inputSize: size, inChannels, outChannels: c.filters!, kernel: c.kernelSize![0], stride: c.strides![0] });
    claimed.add(name);
  };
  conv('stem_conv');
  for (const layer of model.layers) {
    const m = /^(.+)_dw_dwconv$/.exec(layer.name);
    if (!m) continue;
    const block = m[1];
    const expand = byName.get(`${block}_expand_conv`);
    const project = byName.get(`${block}_project_conv`);
    if (!project) throw new Error(`layer ${layer.name} has no ${block}_project_conv: not an MBConv block of this project's builder`);
    const [size, , inChannels] = inputShapeOf(expand ?? layer);
    const dw = cfg(layer.name)!;
    const se = byName.has(`${block}_se_reduce`);
    ops.push({
      op: 'mbconv',
      inputSize: size,
      inChannels,
      outChannels: cfg(project.name)!.filters!,
      kernel: dw.kernelSize![0],
      stride: dw.strides![0],
      expansion: expand ? cfg(expand.name)!.filters! / inChannels : 1,
      se,
    });
    for (const suffix of ['expand_conv', 'dw_dwconv', 'se_reduce', 'se_expand', 'project_conv']) claimed.add(`${block}_${suffix}`);
  }
  conv('head_conv');
  const pool = byName.get('avg_pool');
  if (pool) {
    const [size, , channels] = inputShapeOf(pool);
    ops.push({ op: 'pool', inputSize: size, inChannels: channels, outChannels: channels, kernel: size, stride: 1 });
  }
  const dense = byName.get('predictions');
  if (dense) {
    const [inChannels] = inputShapeOf(dense);
    ops.push({ op: 'dense', inputSize: 1, inChannels, outChannels: cfg('predictions')!.units!, kernel: 1, stride: 1 });
    claimed.add('predictions');
  }
  const unclaimed = model.layers.filter((l) => ['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(l.getClassName()) && !claimed.has(l.name)).map((l) => l.name);
  if (unclaimed.length) {
    throw new Error(`cannot price layers ${unclaimed.slice(0, 5).join(', ')} by op: the model was not built by this project's builder (stem_conv, blockNx_*, head_conv, predictions)`);
  }
  return ops;
}
