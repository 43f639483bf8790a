/**
 * A model's weights as two flat float vectors, trainable and not (BatchNorm's moving statistics):
 * the form in which they cross the data plane and the coordinator averages and updates them.
 * Variables are ordered as the model lists them, so every process that builds the same
 * architecture agrees on the layout; `layoutSignature` lets them check that they do.
 */
import { createHash } from 'node:crypto';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

type LayerVariable = LayersModel['weights'][number];

export interface WeightLayout {
  trainable: { name: string; shape: number[]; size: number }[];
  nonTrainable: { name: string; shape: number[]; size: number }[];
  trainableSize: number;
  nonTrainableSize: number;
}

export interface FlatWeights {
  trainable: Float32Array;
  nonTrainable: Float32Array;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function describe(vars: LayerVariable[]) {
  return vars.map((v) => ({ name: v.originalName, shape: v.shape as number[], size: sizeOf(v.shape as number[]) }));
}

export function weightLayout(model: LayersModel): WeightLayout {
  const trainable = describe(model.trainableWeights);
  const nonTrainable = describe(model.nonTrainableWeights);
  return {
    trainable,
    nonTrainable,
    trainableSize: trainable.reduce((a, v) => a + v.size, 0),
    nonTrainableSize: nonTrainable.reduce((a, v) => a + v.size, 0),
  };
}

export function layoutSignature(layout: WeightLayout): string {
  const text = JSON.stringify([layout.trainable, layout.nonTrainable].map((vs) => vs.map((v) => [v.name, v.shape])));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function concat(vars: LayerVariable[], size: number): Float32Array {
  const out = new Float32Array(size);
  let at = 0;
  for (const v of vars) {
    const values = (v.read() as Tensor).dataSync() as Float32Array;
    out.set(values, at);
    at += values.length;
  }
  return out;
}

export function readFlatWeights(model: LayersModel): FlatWeights {
  const layout = weightLayout(model);
  return { trainable: concat(model.trainableWeights, layout.trainableSize), nonTrainable: concat(model.nonTrainableWeights, layout.nonTrainableSize) };
}

/** The non-trainable part alone: what a worker reports back after a training forward pass. */
export function readNonTrainableWeights(model: LayersModel, layout: WeightLayout): Float32Array {
  return concat(model.nonTrainableWeights, layout.nonTrainableSize);
}

function scatter(vars: LayerVariable[], flat: Float32Array): void {
  const tf = loadTf();
  const total = vars.reduce((a, v) => a + sizeOf(v.shape as number[]), 0);
  if (total !== flat.length) throw new Error(`weight vector has ${flat.length} values, the model ${total}`);
  let at = 0;
  // write() makes the variable share the new tensor's buffer and leaves the tensor itself alive:
  // undisposed, each call would keep one copy of the model (a worker writes weights every step).
  tf.tidy(() => {
    for (const v of vars) {
      const size = sizeOf(v.shape as number[]);
      v.write(tf.tensor(flat.subarray(at, at + size), v.shape as number[], 'float32'));
      at += size;
    }
  });
}

export function writeFlatWeights(model: LayersModel, weights: FlatWeights): void {
  scatter(model.trainableWeights, weights.trainable);
  scatter(model.nonTrainableWeights, weights.nonTrainable);
}
