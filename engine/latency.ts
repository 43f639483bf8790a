/**
 * Inference latency of a saved tfjs model on this machine: warm-up runs first (kernels, caches and
 * allocator settle), then timed runs, each synchronised by reading the result back. The median is
 * what we report; p90 shows the tail that a single mean would hide.
 */
import { join } from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from './backend';

export interface LatencyOptions {
  batchSize: number;
  warmupRuns: number;
  repeats: number;
  backend?: 'tensorflow' | 'cpu';
  /** Called between runs, so a long measurement keeps its activity's heartbeat alive. */
  onProgress?(done: number, total: number): void;
}

export interface LatencyResult {
  medianMs: number;
  p90Ms: number;
  repeats: number;
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export async function loadSavedModel(modelDir: string): Promise<LayersModel> {
  const tf = loadTf();
  return tf.loadLayersModel(tf.io.fileSystem(join(modelDir, 'model.json')));
}

export async function measureLatency(model: LayersModel, inputShape: number[], opts: LatencyOptions): Promise<LatencyResult> {
  const tf = loadTf();
  const previous = tf.getBackend();
  if (opts.backend && opts.backend !== previous) await tf.setBackend(opts.backend);
  try {
    const input = tf.randomUniform([opts.batchSize, ...inputShape], 0, 1, 'float32', 1);
    const once = async (): Promise<number> => {
      const start = process.hrtime.bigint();
      const out = model.predict(input) as Tensor;
      await out.data();
      out.dispose();
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const total = opts.warmupRuns + opts.repeats;
    for (let i = 0; i < opts.warmupRuns; i++) {
      await once();
      opts.onProgress?.(i + 1, total);
    }
    const times: number[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      times.push(await once());
      opts.onProgress?.(opts.warmupRuns + i + 1, total);
    }
    input.dispose();
    times.sort((a, b) => a - b);
    return { medianMs: quantile(times, 0.5), p90Ms: quantile(times, 0.9), repeats: opts.repeats };
  } finally {
    if (tf.getBackend() !== previous) await tf.setBackend(previous);
  }
}
