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

/**
 * The running counts of a pass over a split: the first `done` samples' results. Per-sample
 * counts do not depend on how the samples were batched, so a pass resumed from a tally (after a
 * kill, with any batch size) ends with the counts of an uninterrupted one.
 */
export interface EvaluationTally {
  done: number;
  correctPerClass: number[];
  totalPerClass: number[];
  /** Summed cross-entropy. */
  lossSum: number;
}

export interface EvaluateOptions {
  /** Samples of the split to use (e.g. a validation subset); default all of it. */
  indices?: Uint32Array;
  batchSize?: number;
  /** Continue a pass from this tally of its first samples instead of starting over. */
  from?: EvaluationTally;
  /**
   * After each batch, with the samples done so far, the total and the tally (for heartbeats and
   * checkpoints). The yielding variant awaits what it returns before the next batch.
   */
  onBatch?(done: number, total: number, tally: EvaluationTally): void | Promise<void>;
}

export function evaluateClassifier(model: LayersModel, data: ImageDataset, split: ImageSplit, o: EvaluateOptions = {}): Evaluation {
  const batches = evaluationBatches(model, data, split, o);
  for (;;) {
    const next = batches.next();
    if (next.done) return next.value;
    void o.onBatch?.(next.value.done, next.value.total, next.value.tally);
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
    await o.onBatch?.(next.value.done, next.value.total, next.value.tally);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** One batch per step, yielding the progress; returns the evaluation after the last. */
function* evaluationBatches(model: LayersModel, data: ImageDataset, split: ImageSplit, o: EvaluateOptions): Generator<{ done: number; total: number; tally: EvaluationTally }, Evaluation> {
  const tf = loadTf();
  const size = model.inputs[0].shape[1] as number;
  const subset = o.indices;
  const count = subset ? subset.length : split.count;
  const from = o.from;
  if (from && !(Number.isInteger(from.done) && from.done >= 0 && from.done <= count && from.correctPerClass.length === data.numClasses && from.totalPerClass.length === data.numClasses)) {
    throw new Error(`evaluation tally does not fit this pass: ${from.done} samples done of ${count}, ${from.correctPerClass.length} classes of ${data.numClasses}`);
  }
  const correctPerClass = from ? from.correctPerClass.slice() : new Array<number>(data.numClasses).fill(0);
  const totalPerClass = from ? from.totalPerClass.slice() : new Array<number>(data.numClasses).fill(0);
  let lossSum = from?.lossSum ?? 0;
  let done = from?.done ?? 0;
  const start = done;
  for (const rest of sequentialChunks(count - start, o.batchSize ?? 500)) {
    const chunk = rest.map((i) => start + i);
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
    yield { done, total: count, tally: { done, correctPerClass: correctPerClass.slice(), totalPerClass: totalPerClass.slice(), lossSum } };
  }
  const correct = correctPerClass.reduce((a, b) => a + b, 0);
  return {
    accuracy: count ? correct / count : 0,
    loss: count ? lossSum / count : 0,
    perClassAccuracy: correctPerClass.map((c, i) => (totalPerClass[i] ? c / totalPerClass[i] : 0)),
    count,
  };
}
