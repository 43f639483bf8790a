/**
 * Training throughput of the small conv net on a chosen backend, in images/s and GFLOP/s (FLOPs
 * counted analytically, see engine/latency/macs.ts). The doctor runs it on the native backend and on the
 * pure-JS one to show what native TensorFlow buys.
 */
import type { Scalar, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from './backend';
import { trainingFlopsPerExample } from './latency/macs';
import { buildSmallCnn } from './models/small-cnn';

export interface ThroughputOptions {
  backend: 'tensorflow' | 'cpu';
  batchSize?: number;
  /** Timed steps after one untimed warm-up step. */
  steps?: number;
}

export interface Throughput {
  backend: string;
  batchSize: number;
  steps: number;
  seconds: number;
  imagesPerSecond: number;
  gflops: number;
}

/**
 * tfjs's pure-JS backend prints an "install the node backend" banner on its first tensor write in
 * Node (guarded by its `firstUse` flag); here the slow backend is the point of the exercise, so the
 * banner would only mislead.
 */
async function setBackendQuietly(name: string): Promise<void> {
  const tf = loadTf();
  await tf.setBackend(name);
  const backend = tf.backend() as unknown as { firstUse?: boolean };
  if (name === 'cpu' && backend.firstUse) backend.firstUse = false;
}

export async function measureConvTrainingThroughput(opts: ThroughputOptions): Promise<Throughput> {
  const tf = loadTf();
  const previous = tf.getBackend();
  // The pure-JS backend is about a thousand times slower: a small batch and few steps suffice.
  const batchSize = opts.batchSize ?? (opts.backend === 'cpu' ? 8 : 64);
  const steps = opts.steps ?? (opts.backend === 'cpu' ? 2 : 10);
  await setBackendQuietly(opts.backend);
  try {
    const model = buildSmallCnn({ height: 28, width: 28, channels: 1, numClasses: 10, filters: 16, seed: 7 });
    const optimizer = tf.train.sgd(0.01);
    const xs = tf.randomUniform([batchSize, 28, 28, 1], 0, 1, 'float32', 7);
    const ys = tf.oneHot(tf.randomUniform([batchSize], 0, 10, 'int32', 8) as Tensor, 10).toFloat();
    const step = async (): Promise<void> => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as Tensor) as Scalar,
        true,
      );
      await loss!.data();
      loss!.dispose();
    };
    await step();
    const start = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) await step();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const flops = trainingFlopsPerExample(model) * batchSize * steps;
    tf.dispose([xs, ys]);
    optimizer.dispose();
    model.dispose();
    return { backend: opts.backend, batchSize, steps, seconds, imagesPerSecond: (batchSize * steps) / seconds, gflops: flops / seconds / 1e9 };
  } finally {
    await setBackendQuietly(previous);
  }
}
