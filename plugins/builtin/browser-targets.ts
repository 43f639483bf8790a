/**
 * Built-in browser targets: latency measured where tfjs models are shipped, in a real browser.
 * - `browser-wasm`: the tfjs WebAssembly backend with threads and SIMD, in a cross-origin
 *   isolated page (what a web app that sets COOP/COEP gets);
 * - `browser-webgl`: the WebGL backend (in a headless Chromium without a GPU, SwiftShader);
 * - `browser-webgpu`: the WebGPU backend, where the browser offers an adapter; where it does not,
 *   measuring fails with a message saying what the browser lacks.
 * The browser is a headless Chromium started here, or one elsewhere reached over its DevTools
 * endpoint (a phone's Chrome over `adb forward`). Ops and whole models are timed in the page
 * like the Node targets time them: warm-up runs, then timed runs, median and p90.
 *
 * The engine loads lazily, as for the Node targets: configs are read where TensorFlow must not load.
 */
import { definePlugin, z, type LatencyMeasurement, type OpSignature, type TargetContext } from '../api';

type Measure = typeof import('../../engine/latency/browser/measure');
type Session = typeof import('../../engine/latency/browser/session');

const measure = (): Measure => require('../../engine/latency/browser/measure') as Measure;

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

const browserSchema = z
  .object({
    executable: z.string().min(1).default(DEFAULT_CHROMIUM).describe('Chromium to start headless (Debian: apt-get install chromium).'),
    endpoint: z
      .string()
      .regex(/^(https?|wss?):\/\/\S+$/, 'a DevTools URL such as http://127.0.0.1:9222 or ws://127.0.0.1:9222/devtools/browser/<id>')
      .optional()
      .describe('DevTools endpoint of a browser already running (chromium --remote-debugging-port=9222, or a phone: adb forward tcp:9222 localabstract:chrome_devtools_remote); replaces executable.'),
    args: z.array(z.string()).default([]).describe('Extra command-line flags for a started Chromium.'),
    pageHost: z.string().min(1).default('127.0.0.1').describe('Address the measuring page is served on; the browser must reach it.'),
    pagePort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(0)
      .describe('Port of the measuring page; 0 picks a free one. Fix it for a phone and forward it back: adb reverse tcp:PORT tcp:PORT.'),
  })
  .strict()
  // prefault, not default: zod 4 returns a default as given, without the fields' own defaults.
  .prefault({})
  .describe('Which browser measures: started here, or reached over DevTools.');

const timingFields = {
  batchSize: z.number().int().min(1).max(1024).default(1).describe('Images per timed inference.'),
  warmupRuns: z.number().int().min(0).max(1000).default(5).describe('Untimed runs first: shader compilation, JIT and caches settle.'),
  repeats: z.number().int().min(1).max(10_000).default(20).describe('Timed runs; the median is reported.'),
};

interface BrowserTargetConfig {
  browser: z.output<typeof browserSchema>;
  batchSize: number;
  warmupRuns: number;
  repeats: number;
}

function unavailable(config: Pick<BrowserTargetConfig, 'browser'>): string | undefined {
  const { missingBrowser } = require('../../engine/latency/browser/availability') as typeof import('../../engine/latency/browser/availability');
  return missingBrowser(config.browser);
}

type PageSetup = Parameters<Session['withMeasuringPage']>[1];

function timingOf(config: BrowserTargetConfig, ctx: TargetContext<unknown>, what?: string) {
  return {
    batchSize: config.batchSize,
    warmupRuns: config.warmupRuns,
    repeats: config.repeats,
    signal: ctx.signal,
    onProgress: (done: number, total: number) => ctx.heartbeat(what ? { op: what, done, total } : { done, total }),
  };
}

async function opOn(setup: PageSetup, op: OpSignature, config: BrowserTargetConfig, ctx: TargetContext<unknown>): Promise<LatencyMeasurement> {
  const { measureOpInBrowser } = measure();
  const { opKey } = require('../../engine/latency/ops') as typeof import('../../engine/latency/ops');
  const { medianMs, p90Ms, repeats } = await measureOpInBrowser(config.browser, setup, op, timingOf(config, ctx, opKey(op)));
  return { medianMs, p90Ms, repeats };
}

async function modelOn(setup: PageSetup, modelDir: string, inputShape: number[], config: BrowserTargetConfig, ctx: TargetContext<unknown>): Promise<LatencyMeasurement> {
  const { medianMs, p90Ms, repeats } = await measure().measureModelInBrowser(config.browser, setup, modelDir, inputShape, timingOf(config, ctx));
  return { medianMs, p90Ms, repeats };
}

export const browserWasm = definePlugin({
  kind: 'hardware-target',
  name: 'browser-wasm',
  version: '0.2.0',
  description: 'measured latency in headless Chromium with the tfjs WebAssembly backend (threads and SIMD)',
  timed: true,
  unavailable,
  configSchema: z
    .object({
      browser: browserSchema,
      threads: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(2)
        .describe('WebAssembly threads (the page is cross-origin isolated, so the threaded build runs); 1 runs the single-threaded build.'),
      simd: z.boolean().default(true).describe('SIMD build; false needs threads: 1 (tfjs ships no threaded build without SIMD).'),
      ...timingFields,
    })
    .strict()
    .refine((c) => c.simd || c.threads === 1, { message: 'simd: false runs only single-threaded (tfjs has no threaded build without SIMD): set threads: 1', path: ['simd'] }),
  async measureOp(op, ctx) {
    return opOn({ backend: 'wasm', threads: ctx.config.threads, simd: ctx.config.simd }, op, ctx.config, ctx);
  },
  async measureModel(modelDir, inputShape, ctx) {
    return modelOn({ backend: 'wasm', threads: ctx.config.threads, simd: ctx.config.simd }, modelDir, inputShape, ctx.config, ctx);
  },
});

/** A GPU backend's target: the page set up with that backend, nothing else to configure. */
function gpuTarget(name: string, backend: 'webgl' | 'webgpu', description: string) {
  return definePlugin({
    kind: 'hardware-target',
    name,
    version: '0.2.0',
    description,
    timed: true,
    unavailable,
    configSchema: z.object({ browser: browserSchema, ...timingFields }).strict(),
    async measureOp(op, ctx) {
      return opOn({ backend }, op, ctx.config, ctx);
    },
    async measureModel(modelDir, inputShape, ctx) {
      return modelOn({ backend }, modelDir, inputShape, ctx.config, ctx);
    },
  });
}

export const browserWebgl = gpuTarget('browser-webgl', 'webgl', 'measured latency in headless Chromium with the tfjs WebGL backend');
export const browserWebgpu = gpuTarget('browser-webgpu', 'webgpu', 'measured latency in Chromium with the tfjs WebGPU backend, where the browser offers WebGPU');

export default [browserWasm, browserWebgl, browserWebgpu];
