/**
 * The plain CNN the first pipeline stage trains: two conv-BN-ReLU blocks with pooling, then a
 * dense head. About 91-92% on Fashion-MNIST when trained well, ~89% after one epoch. No dropout:
 * its masks come from an unseeded generator in tfjs, which would make resumed runs diverge.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

export interface SmallCnnOptions {
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  /** Filters of the first conv; the second has twice as many. */
  filters?: number;
  seed?: number;
}

export function buildSmallCnn(opts: SmallCnnOptions): LayersModel {
  const tf = loadTf();
  const f = opts.filters ?? 32;
  const seed = opts.seed ?? 1;
  // Seeded initialisers make two builds with the same seed identical, which resume tests rely on.
  const init = (i: number) => tf.initializers.heNormal({ seed: seed * 97 + i });
  const input = tf.input({ shape: [opts.height, opts.width, opts.channels], name: 'image' });
  let x = tf.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1), name: 'conv1' }).apply(input) as ReturnType<typeof tf.input>;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as typeof x;
  x = tf.layers.reLU({ name: 'relu1' }).apply(x) as typeof x;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x) as typeof x;
  x = tf.layers.conv2d({ filters: 2 * f, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(2), name: 'conv2' }).apply(x) as typeof x;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as typeof x;
  x = tf.layers.reLU({ name: 'relu2' }).apply(x) as typeof x;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }).apply(x) as typeof x;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as typeof x;
  x = tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(3), name: 'fc1' }).apply(x) as typeof x;
  const logits = tf.layers.dense({ units: opts.numClasses, kernelInitializer: init(4), name: 'logits' }).apply(x) as typeof x;
  return tf.model({ inputs: input, outputs: logits, name: 'small_cnn' });
}
