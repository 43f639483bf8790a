/**
 * Built-in hardware targets. Declarations for now: measurement runs in activities and arrives with
 * the latency-table issue; their configs are final so pipelines can already name them.
 */
import { definePlugin, z } from '../api';

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
      threads: z.number().int().min(1).max(256).optional().describe('Intra-op threads; default: what TensorFlow picks.'),
      batchSize: z.number().int().min(1).max(1024).default(1).describe('Images per timed inference.'),
      warmupRuns,
      repeats,
    })
    .strict(),
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
});

/** One module may declare several plugins, as user modules may. */
export default [nodeCpu, wasm, lut, macs];
