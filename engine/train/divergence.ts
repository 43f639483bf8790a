/**
 * Non-finite numbers in training: a loss, a gradient or a weight that is NaN or +-Infinity. Every
 * trainer (the single-process one, the supernet, the elastic coordinator and its workers) checks
 * its losses and gradients before applying them and throws TrainingDivergedError instead, so that
 * no NaN ever reaches the weights, a checkpoint or an exported model. Its `name` is the error type
 * the activities fail with (ApplicationFailure.nonRetryable) and the workflows list as
 * non-retryable: a training that diverged diverges again when retried from the same checkpoint.
 */
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

/** The error type name, as activities report it and workflows' nonRetryableErrorTypes list it. */
export const TRAINING_DIVERGED = 'TrainingDivergedError';

export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = TRAINING_DIVERGED;
  }
}

/** Index of the first value that is NaN or +-Infinity, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // v - v is NaN exactly for NaN and +-Infinity; faster than Number.isFinite on typed arrays.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "3 of 1200 values are not finite, the first (index 17) is NaN", or undefined when all are finite. */
export function describeNonFinite(values: ArrayLike<number>): string | undefined {
  const first = firstNonFinite(values);
  if (first < 0) return undefined;
  let count = 0;
  for (let i = first; i < values.length; i++) if (values[i] - values[i] !== 0) count++;
  return `${count} of ${values.length} values are not finite, the first (index ${first}) is ${values[first]}`;
}

/**
 * What is wrong with one elastic contribution (a loss, its gradient and the BatchNorm statistics
 * the batch produced), or undefined when all of it is finite: the words the worker checking its own
 * and the coordinator checking what arrived both use.
 */
export function contributionProblem(loss: unknown, gradient: ArrayLike<number>, statistics: ArrayLike<number>): string | undefined {
  if (typeof loss !== 'number' || !Number.isFinite(loss)) {
    if (typeof loss === 'number') return `loss ${loss}`;
    return `loss ${JSON.stringify(loss) ?? String(loss)}${loss === null ? ' (a NaN or infinite loss that JSON encoded as null)' : ''}`;
  }
  const badGradient = describeNonFinite(gradient);
  if (badGradient) return `a gradient in which ${badGradient}`;
  const badStatistics = describeNonFinite(statistics);
  return badStatistics ? `BatchNorm statistics in which ${badStatistics}` : undefined;
}

/**
 * Which of `tensors` hold a NaN or +-Infinity, with one small read-back for all of them (a flag per
 * tensor), so a trainer can check every gradient of a step before applying any.
 */
export function nonFiniteTensors(tensors: readonly Tensor[]): number[] {
  if (tensors.length === 0) return [];
  const tf = loadTf();
  const flags = tf.tidy(() => tf.stack(tensors.map((t) => tf.all(tf.isFinite(t)))).dataSync());
  const bad: number[] = [];
  flags.forEach((ok, i) => {
    if (!ok) bad.push(i);
  });
  return bad;
}

/** Weights of `model` that hold a NaN or +-Infinity, by name (BatchNorm's moving statistics included). */
export function nonFiniteWeights(model: LayersModel): string[] {
  const weights = model.weights;
  const bad = nonFiniteTensors(weights.map((w) => w.read() as Tensor));
  return bad.map((i) => weights[i].originalName);
}

/**
 * Throws TrainingDivergedError when a weight of `model` is not finite: called before a model is
 * exported, so that no NaN model is ever stored as a result.
 */
export function assertFiniteWeights(model: LayersModel, what = `model ${model.name}`): void {
  const bad = nonFiniteWeights(model);
  if (bad.length === 0) return;
  const shown = bad.slice(0, 3).join(', ') + (bad.length > 3 ? ` and ${bad.length - 3} more` : '');
  throw new TrainingDivergedError(`${what} has non-finite weights (NaN or Infinity in ${shown}); it is not exported. Training diverged: lower the learning rate`);
}
