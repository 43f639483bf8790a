/**
 * Accuracy (overall and per class) and mean loss of a classifier on a split, in inference mode,
 * batch by batch: the one evaluation the trainer, the elastic coordinator and the evaluation stage
 * share, so the accuracy a stage reports is the one the evaluation reproduces.
 */
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import { makeBatch, sequentialChunks } from '../data/batches';
import type { ImageDataset, ImageSplit } from '../data/dataset';

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy, without label smoothing or weight decay. */
  loss: number;
  perClassAccuracy: number[];
  count: number;
}

export interface EvaluateOptions {
  /** Samples of the split to use (e.g. a validation subset); default all of it. */
  indices?: Uint32Array;
  batchSize?: number;
  /** After each batch, with the samples done so far and the total (for heartbeats). */
  onBatch?(done: number, total: number): void;
}

export function evaluateClassifier(model: LayersModel, data: ImageDataset, split: ImageSplit, o: EvaluateOptions = {}): Evaluation {
  const batches = evaluationBatches(model, data, split, o);
  for (;;) {
    const next = batches.next();
    if (next.done) return next.value;
  }
}

/**
 * The same evaluation, yielding to the event loop after every batch. Activities use it: Temporal's
 * heartbeats are sent from the event loop, so a long synchronous pass over a split sends none, and
 * a heartbeat timeout shorter than the whole pass would declare a healthy worker dead.
 */
export async function evaluateClassifierYielding(model: LayersModel, data: ImageDataset, split: ImageSplit, o: EvaluateOptions = {}): Promise<Evaluation> {
  const batches = evaluationBatches(model, data, split, o);
  for (;;) {
    const next = batches.next();
    if (next.done) return next.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** One batch per step; returns the evaluation after the last. */
function* evaluationBatches(model: LayersModel, data: ImageDataset, split: ImageSplit, o: EvaluateOptions): Generator<void, Evaluation> {
  const tf = loadTf();
  const size = model.inputs[0].shape[1] as number;
  const subset = o.indices;
  const count = subset ? subset.length : split.count;
  const correctPerClass = new Array<number>(data.numClasses).fill(0);
  const totalPerClass = new Array<number>(data.numClasses).fill(0);
  let lossSum = 0;
  let done = 0;
  for (const chunk of sequentialChunks(count, o.batchSize ?? 500)) {
    const indices = subset ? chunk.map((i) => subset[i]) : chunk;
    const batch = makeBatch(data, split, indices, { size });
    const [predicted, loss] = tf.tidy(() => {
      const logits = model.apply(batch.xs, { training: false }) as Tensor;
      const l = tf.losses.softmaxCrossEntropy(batch.ys, logits, undefined, undefined, tf.Reduction.SUM);
      return [logits.argMax(-1).dataSync(), l.dataSync()[0]] as const;
    });
    tf.dispose([batch.xs, batch.ys]);
    lossSum += loss;
    for (let i = 0; i < indices.length; i++) {
      const label = split.labels[indices[i]];
      totalPerClass[label]++;
      if (predicted[i] === label) correctPerClass[label]++;
    }
    done += indices.length;
    o.onBatch?.(done, count);
    yield;
  }
  const correct = correctPerClass.reduce((a, b) => a + b, 0);
  return {
    accuracy: count ? correct / count : 0,
    loss: count ? lossSum / count : 0,
    perClassAccuracy: correctPerClass.map((c, i) => (totalPerClass[i] ? c / totalPerClass[i] : 0)),
    count,
  };
}
