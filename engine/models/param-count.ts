/**
 * Parameter counts read from the built model's weights. "Total" includes BatchNorm's moving mean
 * and variance (non-trainable), as Keras' model.summary() does; papers and timm report the
 * trainable count (EfficientNet-B0: 5,288,548 trainable, 5,330,564 total).
 */
import type { LayersModel } from '@tensorflow/tfjs-node';

export interface ParamCount {
  trainable: number;
  nonTrainable: number;
  total: number;
}

function size(shape: (number | null)[]): number {
  return shape.reduce<number>((a, d) => a * (d ?? 1), 1);
}

export function countParams(model: LayersModel): ParamCount {
  const trainable = model.trainableWeights.reduce((s, w) => s + size(w.shape), 0);
  const nonTrainable = model.nonTrainableWeights.reduce((s, w) => s + size(w.shape), 0);
  return { trainable, nonTrainable, total: trainable + nonTrainable };
}
