/**
 * Inference latency of a tfjs model in this process: warm-up runs first (kernels, caches and
 * allocator settle), then timed runs, each synchronised by reading the result back. The median is
 * what we report; p90 shows the tail that a single mean would hide. Every target that times in
 * Node (node-cpu, wasm; ops and whole models) goes through `measureLatency`.
 */
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { withBackend, type MeasureBackend } from './backends';

export interface LatencyOptions {
  batchSize: number;
  warmupRuns: number;
  repeats: number;
  /** tfjs backend to run on; default the current one. 'wasm' must be prepared first (`prepareWasmBackend`). */
  backend?: MeasureBackend;
  /** Called between runs, so a long measurement keeps its activity's heartbeat alive. */
  onProgress?(done: number, total: number): void;
}

export interface LatencyResult {
  medianMs: number;
  p90Ms: number;
  repeats: number;
}

/** Linear interpolation between the order statistics around `q` (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** The summary of timed runs that every measurement reports. */
export function summarizeRuns(timesMs: readonly number[]): LatencyResult {
  const sorted = [...timesMs].sort((a, b) => a - b);
  return { medianMs: quantile(sorted, 0.5), p90Ms: quantile(sorted, 0.9), repeats: sorted.length };
}

/**
 * Times `model.predict` on a random batch. With `opts.backend` it switches backends around the
 * measurement; a model built on another backend then pays a one-time weight copy during warm-up.
 */
export async function measureLatency(model: LayersModel, inputShape: number[], opts: LatencyOptions): Promise<LatencyResult> {
  const tf = loadTf();
  return withBackend(opts.backend, async () => {
    const input = tf.randomUniform([opts.batchSize, ...inputShape], 0, 1, 'float32', 1);
    try {
      // Reading the result back is what waits for the backend; disposing is part of every real inference too.
      const once = async (): Promise<void> => {
        const out = model.predict(input) as Tensor;
        await out.data();
        out.dispose();
      };
      return await timeRuns(once, opts);
    } finally {
      input.dispose();
    }
  });
}

/**
 * `opts.warmupRuns` untimed runs of `once`, then `opts.repeats` timed ones. Exported apart from
 * the model so the procedure can be tested without TensorFlow.
 */
export async function timeRuns(once: () => Promise<unknown>, opts: Pick<LatencyOptions, 'warmupRuns' | 'repeats' | 'onProgress'>): Promise<LatencyResult> {
  const timed = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    await once();
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const total = opts.warmupRuns + opts.repeats;
  for (let i = 0; i < opts.warmupRuns; i++) {
    await timed();
    opts.onProgress?.(i + 1, total);
  }
  const times: number[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    times.push(await timed());
    opts.onProgress?.(opts.warmupRuns + i + 1, total);
  }
  return summarizeRuns(times);
}
