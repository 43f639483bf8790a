/**
 * Built-in hardware targets. `node-cpu` and `macs` measure whole models (what the training stage
 * reports); per-op latency tables (`measureOp`), `wasm` and `lut` arrive with the search issue.
 *
 * The engine is required lazily inside the measuring functions: this module is also read where
 * only configs matter (validation, workflow bundles), which must not load TensorFlow.
 */
import { definePlugin, z } from '../api';

type Engine = typeof import('../../engine/latency') & typeof import('../../engine/macs');

function engine(): Engine {
  return { ...(require('../../engine/latency') as typeof import('../../engine/latency')), ...(require('../../engine/macs') as typeof import('../../engine/macs')) };
}

const warmupRuns = z.number().int().min(0).max(1000).default(5).describe('Untimed runs first, so JIT and caches settle.');
const repeats = z.number().int().min(1).max(10_000).default(20).describe('Timed runs; the median is reported.');

export const nodeCpu = definePlugin({
  kind: 'hardware-target',
  name: 'node-cpu',
  version: '0.1.0',
  description: 'measured latency on this machine with tfjs in Node',
  configSchema: z
    .object({
      backend: z.enum(['tensorflow', 'cpu']).default('tensorflow').describe('tfjs-node (native) or the pure-JavaScript cpu backend.'),
      batchSize: z.number().int().min(1).max(1024).default(1).describe('Images per timed inference.'),
      warmupRuns,
      repeats,
    })
    .strict(),
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
  version: '0.1.0',
  description: 'measured latency with the tfjs WebAssembly backend, a stand-in for browsers',
  configSchema: z
    .object({
      threads: z.number().int().min(1).max(64).default(1).describe('WebAssembly threads; browsers without cross-origin isolation get 1.'),
      simd: z.boolean().default(true).describe('Use the SIMD build of the backend.'),
      warmupRuns,
      repeats,
    })
    .strict(),
});

export const lut = definePlugin({
  kind: 'hardware-target',
  name: 'lut',
  version: '0.1.0',
  description: 'latency looked up in a table measured earlier, op by op',
  configSchema: z
    .object({
      table: z.string().min(1).describe('Latency table: artifact key or path of a table another target measured.'),
      missing: z.enum(['error', 'macs']).default('error').describe('An op missing from the table: fail, or estimate it from its MACs.'),
    })
    .strict(),
});

export const macs = definePlugin({
  kind: 'hardware-target',
  name: 'macs',
  version: '0.1.0',
  description: 'multiply-add count as a latency proxy (no measurement)',
  configSchema: z
    .object({
      msPerMegaMac: z.number().positive().default(0.01).describe('Milliseconds charged per million multiply-adds.'),
    })
    .strict(),
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
