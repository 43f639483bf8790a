/**
 * Built-in hardware targets. Each prices single ops (`measureOp`, for the search's latency tables)
 * and, where it can, whole saved models (`measureModel`, for evaluation):
 * - `node-cpu`: timed with tfjs in this Node process (native libtensorflow, or the JS cpu backend);
 * - `wasm`: timed with the tfjs WebAssembly backend in this process (single-threaded; the browser
 *   targets of ./browser-targets.ts time the threaded build where it runs, in a browser);
 * - `macs`: multiply-adds times a constant, no timing;
 * - `lut`: looked up in a table measured elsewhere (a phone, a browser), op by op.
 *
 * The engine is required lazily inside the measuring functions: this module is also read where
 * only configs matter (validation, workflow bundles), which must not load TensorFlow.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { definePlugin, z, type LatencyMeasurement, type OpSignature, type TargetContext } from '../api';

type Backends = typeof import('../../engine/latency/backends');
type Timing = typeof import('../../engine/latency/timing');
type SavedModel = typeof import('../../engine/models/saved-model');
type Macs = typeof import('../../engine/latency/macs');
type Ops = typeof import('../../engine/latency/ops');
type OpModel = typeof import('../../engine/latency/op-model');
type Table = typeof import('../../engine/latency/table');
type Engine = Backends & Timing & SavedModel & Macs & Ops & OpModel & Table;

function engine(): Engine {
  return {
    ...(require('../../engine/latency/backends') as Backends),
    ...(require('../../engine/latency/timing') as Timing),
    ...(require('../../engine/models/saved-model') as SavedModel),
    ...(require('../../engine/latency/macs') as Macs),
    ...(require('../../engine/latency/ops') as Ops),
    ...(require('../../engine/latency/op-model') as OpModel),
    ...(require('../../engine/latency/table') as Table),
  };
}

const warmupRuns = z.number().int().min(0).max(1000).default(5).describe('Untimed runs first, so JIT and caches settle.');
const repeats = z.number().int().min(1).max(10_000).default(20).describe('Timed runs; the median is reported.');
const batchSize = z.number().int().min(1).max(1024).default(1).describe('Images per timed inference.');

interface TimingConfig {
  batchSize: number;
  warmupRuns: number;
  repeats: number;
}

/**
 * Times one op built alone as a tiny model on `backend`. The model is built after switching, so
 * its weights live on that backend and no cross-backend copy lands in the timed runs.
 */
async function timeOp(
  op: OpSignature,
  backend: 'tensorflow' | 'cpu' | 'wasm',
  config: TimingConfig,
  ctx: TargetContext<unknown>,
  prepare?: () => Promise<void>,
): Promise<LatencyMeasurement> {
  const { withBackend, measureLatency, buildOpModel, opInputShape, opKey } = engine();
  // Only the three timing fields go on: a `backend` in them would make measureLatency take the backend lock again.
  const { batchSize, warmupRuns, repeats } = config;
  return withBackend(
    backend,
    async () => {
      const model = buildOpModel(op);
      try {
        return await measureLatency(model, opInputShape(op), { batchSize, warmupRuns, repeats, onProgress: (done, total) => ctx.heartbeat({ op: opKey(op), done, total }) });
      } finally {
        model.dispose();
      }
    },
    prepare,
  );
}

export const nodeCpu = definePlugin({
  kind: 'hardware-target',
  name: 'node-cpu',
  version: '0.2.0',
  description: 'measured latency on this machine with tfjs in Node',
  timed: true,
  configSchema: z
    .object({
      backend: z.enum(['tensorflow', 'cpu']).default('tensorflow').describe('tfjs-node (native) or the pure-JavaScript cpu backend.'),
      batchSize,
      warmupRuns,
      repeats,
    })
    .strict(),
  async measureOp(op, ctx) {
    return timeOp(op, ctx.config.backend, ctx.config, ctx);
  },
  async measureModel(modelDir, inputShape, ctx) {
    const { loadSavedModel, measureLatency } = engine();
    const model = await loadSavedModel(modelDir);
    try {
      return await measureLatency(model, inputShape, { ...ctx.config, onProgress: (done, total) => ctx.heartbeat({ done, total }) });
    } finally {
      model.dispose();
    }
  },
});

export const wasm = definePlugin({
  kind: 'hardware-target',
  name: 'wasm',
  version: '0.2.0',
  description: 'measured latency with the tfjs WebAssembly backend in Node (single-threaded)',
  timed: true,
  configSchema: z
    .object({
      threads: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(1)
        .describe('WebAssembly threads. Node runs only 1 (tfjs-backend-wasm has no threaded build for Node); more fails with an explanation.'),
      simd: z.boolean().default(true).describe('Use the SIMD build of the backend (both builds run in Node 20).'),
      batchSize,
      warmupRuns,
      repeats,
    })
    .strict(),
  async measureOp(op, ctx) {
    const { threads, simd } = ctx.config;
    return timeOp(op, 'wasm', ctx.config, ctx, () => engine().prepareWasmBackend({ simd, threads }));
  },
  async measureModel(modelDir, inputShape, ctx) {
    const { prepareWasmBackend, withBackend, loadSavedModel, measureLatency } = engine();
    const { threads, simd, batchSize, warmupRuns, repeats } = ctx.config;
    return withBackend(
      'wasm',
      async () => {
        // Loaded while wasm is active, so the weights are uploaded to the WebAssembly heap once.
        const model = await loadSavedModel(modelDir);
        try {
          return await measureLatency(model, inputShape, { batchSize, warmupRuns, repeats, onProgress: (done, total) => ctx.heartbeat({ done, total }) });
        } finally {
          model.dispose();
        }
      },
      () => prepareWasmBackend({ simd, threads }),
    );
  },
});

/**
 * Reads the table a `lut` config names: an absolute path or file:// URL is a file on this worker;
 * anything else is first an artifact key of the run's store (a table another target measured,
 * e.g. latency-tables/node-cpu/<hash>.json), then a path relative to the worker's directory.
 */
export async function readLutTable(table: string, ctx: Pick<TargetContext<unknown>, 'readArtifact'>): Promise<{ text: string; source: string }> {
  if (table.startsWith('file://')) return { text: readFileSync(fileURLToPath(table), 'utf8'), source: table };
  if (isAbsolute(table)) return { text: readFileSync(table, 'utf8'), source: table };
  if (ctx.readArtifact) {
    try {
      return { text: new TextDecoder().decode(await ctx.readArtifact(table)), source: `artifact ${table}` };
    } catch (err) {
      // Only a missing key falls through to the file system; a corrupt or unreachable store is an error.
      if (!(err instanceof Error && err.name === 'ArtifactNotFoundError')) throw err;
    }
  }
  try {
    return { text: readFileSync(table, 'utf8'), source: table };
  } catch {
    throw new Error(`lut table "${table}" not found: not an artifact key of this run's store, nor a file relative to ${process.cwd()}; give an absolute path`);
  }
}

async function loadLut(config: { table: string }, ctx: TargetContext<unknown>) {
  const { parseLatencyTable, entriesByKey, msPerMac } = engine();
  const { text, source } = await readLutTable(config.table, ctx);
  const table = parseLatencyTable(text, source);
  return { table, source, byKey: entriesByKey(table), msPerMac: () => msPerMac(table) };
}

function lookup(lut: Awaited<ReturnType<typeof loadLut>>, op: OpSignature, missing: 'error' | 'macs'): LatencyMeasurement {
  const { opKey, opMacs, MissingOpsError } = engine();
  const entry = lut.byKey.get(opKey(op));
  if (entry) return { medianMs: entry.medianMs, p90Ms: entry.p90Ms ?? entry.medianMs, repeats: entry.repeats ?? 1 };
  if (missing === 'error') throw new MissingOpsError([opKey(op)], lut.source);
  const perMac = lut.msPerMac();
  if (perMac === undefined) throw new Error(`lut table ${lut.source}: cannot estimate ${opKey(op)} from MACs, no entry has an op key with MACs to scale by`);
  const ms = opMacs(op) * perMac;
  // repeats 0: nothing was timed, the number is an estimate.
  return { medianMs: ms, p90Ms: ms, repeats: 0 };
}

export const lut = definePlugin({
  kind: 'hardware-target',
  name: 'lut',
  version: '0.2.0',
  description: 'latency looked up in a table measured earlier, op by op',
  configSchema: z
    .object({
      table: z
        .string()
        .min(1)
        .describe(
          'Latency table: an artifact key (e.g. a table another target built) or a path of a JSON file ' +
            '{ "target": "...", "entries": [{ "key": "mbconv_28x28x16_o24_k3_s2_e6_se1", "medianMs": 1.2, "p90Ms": 1.4 }] }.',
        ),
      missing: z
        .enum(['error', 'macs'])
        .default('error')
        .describe("An op missing from the table: fail, or estimate it from its MACs at the table's own median ms per MAC."),
    })
    .strict(),
  async measureOp(op, ctx) {
    return lookup(await loadLut(ctx.config, ctx), op, ctx.config.missing);
  },
  /** A whole model priced as the sum of its ops' entries; p90 is the sum of their p90s, a pessimistic tail. */
  async measureModel(modelDir, _inputShape, ctx) {
    const { loadSavedModel, opsOfModel } = engine();
    const lut = await loadLut(ctx.config, ctx);
    const model: LayersModel = await loadSavedModel(modelDir);
    let ops: OpSignature[];
    try {
      ops = opsOfModel(model);
    } finally {
      model.dispose();
    }
    const parts = ops.map((op) => lookup(lut, op, ctx.config.missing));
    return {
      medianMs: parts.reduce((s, p) => s + p.medianMs, 0),
      p90Ms: parts.reduce((s, p) => s + (p.p90Ms ?? p.medianMs), 0),
      repeats: Math.min(...parts.map((p) => p.repeats)),
    };
  },
});

export const macs = definePlugin({
  kind: 'hardware-target',
  name: 'macs',
  version: '0.2.0',
  description: 'multiply-add count as a latency proxy (no measurement)',
  configSchema: z
    .object({
      msPerMegaMac: z.number().positive().default(0.01).describe('Milliseconds charged per million multiply-adds.'),
    })
    .strict(),
  /** Analytic, for batch 1: `opMacs` follows engine/latency/macs.ts's convention (tests hold them equal). */
  async measureOp(op, ctx) {
    const ms = (engine().opMacs(op) / 1e6) * ctx.config.msPerMegaMac;
    return { medianMs: ms, p90Ms: ms, repeats: 1 };
  },
  async measureModel(modelDir, _inputShape, ctx) {
    const { loadSavedModel, countMacs } = engine();
    const model = await loadSavedModel(modelDir);
    try {
      const ms = (countMacs(model) / 1e6) * ctx.config.msPerMegaMac;
      return { medianMs: ms, p90Ms: ms, repeats: 1 };
    } finally {
      model.dispose();
    }
  },
});

/** One module may declare several plugins, as user modules may. */
export default [nodeCpu, wasm, lut, macs];
