/**
 * Which tfjs backend a measurement runs on. The active backend is global to the process, so
 * switching it is serialised here; the WebAssembly backend needs its build chosen before it first
 * initialises. Timing itself is ./timing.ts.
 */
import { loadTf } from '../backend';

/** The backends a latency can be measured on in this process. */
export type MeasureBackend = 'tensorflow' | 'cpu' | 'wasm';

let switching: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with `backend` active and restores the previous backend afterwards, even on error.
 * Tensors and models must be created inside `fn` so they live on that backend: tfjs would
 * otherwise copy every weight between backends on first use, inside the timed runs.
 *
 * The active backend is global to the process. Measurements that name a backend are serialised
 * here, so two concurrent ones neither restore each other's backend nor share the CPU while
 * timing; anything else running tensors in this process meanwhile (a training activity on the
 * same worker) would run on the switched backend, so measuring belongs on workers that do nothing
 * else at the time. Not reentrant: `fn` must not call withBackend with a backend again.
 * `prepare` runs under the same lock before the switch (choosing the wasm build).
 */
export async function withBackend<T>(backend: MeasureBackend | undefined, fn: () => Promise<T>, prepare?: () => Promise<void>): Promise<T> {
  const tf = loadTf();
  if (!backend) return fn();
  const run = switching.then(async () => {
    await prepare?.();
    const previous = tf.getBackend();
    if (backend === previous) return fn();
    if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend "${backend}" failed to initialise (see the warning above)`);
    try {
      return await fn();
    } finally {
      await tf.setBackend(previous);
    }
  });
  switching = run.catch(() => undefined);
  return run;
}

export interface WasmOptions {
  /** Use the SIMD build (tfjs-backend-wasm-simd.wasm) rather than the plain one. */
  simd: boolean;
  /** WebAssembly threads. Node supports only 1, see below. */
  threads: number;
}

/** A target config this process cannot honour; retrying will not help. */
export class UnsupportedTargetConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedTargetConfigError';
  }
}

let wasmVariant: WasmOptions | undefined;

/**
 * Registers the tfjs WebAssembly backend with the requested build. The .wasm binaries ship inside
 * the npm package; under Node its loader reads them with fs from the folder of its own script
 * (node_modules/@tensorflow/tfjs-backend-wasm/dist/), so nothing is fetched at run time and no
 * `setWasmPaths` is needed.
 *
 * What Node supports (tfjs-backend-wasm 4.22): the plain and the SIMD builds. The threaded build
 * is refused: the package itself reports no multithreading under Node (tfjs issue #3830), and
 * forcing it fails, because its pthreads start Web Workers from Blob URLs, which Node's
 * worker_threads cannot load. A build, once initialised, is fixed for the backend instance, so
 * asking for the other SIMD setting re-registers the backend (tensors on the old one are lost;
 * measurements create and dispose their own).
 */
export async function prepareWasmBackend(o: WasmOptions): Promise<void> {
  if (o.threads !== 1) {
    throw new UnsupportedTargetConfigError(
      `wasm target: threads: ${o.threads} is not supported in Node (tfjs-backend-wasm runs its threaded build only in browsers ` +
        `with cross-origin isolation); set threads: 1, or measure in a browser and use the lut target`,
    );
  }
  const tf = loadTf();
  // The package registers itself as the 'wasm' backend on first require; lazy so that only
  // processes that measure on wasm pay for loading it.
  const wasmPkg = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  if (wasmVariant && wasmVariant.simd === o.simd) return;
  if (wasmVariant) {
    // Keep the package's factory; removeBackend forgets it along with the initialised instance.
    const factory = tf.findBackendFactory('wasm');
    if (tf.getBackend() === 'wasm') throw new Error('cannot switch the wasm build while the wasm backend is active');
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', factory, 2);
  }
  // The flag decides which binary init() loads; it is read when the backend initialises.
  tf.env().set('WASM_HAS_SIMD_SUPPORT', o.simd);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasmPkg.setThreadsCount(1);
  wasmVariant = { ...o };
}

/** The wasm build last prepared, for reports and tests. */
export function wasmBuild(): WasmOptions | undefined {
  return wasmVariant && { ...wasmVariant };
}
