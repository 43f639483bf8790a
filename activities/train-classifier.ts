/**
 * Trains a fixed classifier on the pipeline's data set. Resumable: it checkpoints every N steps
 * into the artifact store, heartbeats the key of the last checkpoint, and on a retry (another
 * worker, after a crash) continues from the newest checkpoint that verifies.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { getJson, putJson } from '../artifacts';
import { DatasetFormatError } from '../engine/data/idx';
import { DatasetNotFoundError } from '../engine/data/fashion-mnist';
import { buildSmallCnn } from '../engine/models/small-cnn';
import { CheckpointMismatchError, ClassifierTrainer } from '../engine/train/classifier-trainer';
import { ThroughputMeter } from '../engine/train/throughput-meter';
import type { DatasetRef, TrainSettings } from '../core/stage-settings';
import { pruneCheckpoints, restoreNewestCheckpoint } from './checkpoints';
import { runLayout } from '../core/run-layout';
import type { StageMetrics } from '../core/artifact-files';
import { datasetFor, storeFor } from './context';
import { divergenceFailure } from './failures';
import { exportTfjsModel } from './model-export';
import type { RunContext } from '../core/refs';

export interface TrainClassifierInput extends RunContext {
  stage: string;
  seed: number;
  dataset: DatasetRef;
  train: TrainSettings;
}

export interface TrainClassifierResult {
  modelKey: string;
  modelWeightsKey: string;
  /** One example's shape as the model takes it, e.g. [28, 28, 1]. */
  inputShape: number[];
  metricsKey: string;
  testAccuracy: number;
  testLoss: number;
  /** Classes of the data set, so that a test accuracy at chance can be told (absent in older runs). */
  classes?: number;
  steps: number;
  /** The step this attempt started from: 0 for a fresh start, more after a crash. */
  resumedFromStep: number;
  attempt: number;
  trainSeconds: number;
}

/** What each heartbeat carries: enough for a retry to resume and for the CLI to show progress. */
export interface TrainProgress {
  checkpointKey?: string;
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  loss?: number;
  imagesPerSecond?: number;
  /** Seconds left at the current rate, for this activity's whole run. */
  etaSeconds?: number;
}

/** Errors a retry cannot fix: failing them at once spares minutes of pointless retries. */
const PERMANENT = [DatasetNotFoundError, DatasetFormatError, CheckpointMismatchError];

export async function trainClassifier(input: TrainClassifierInput): Promise<TrainClassifierResult> {
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).training(input.stage);

  // A retry after the work finished but before Temporal heard of it: report, never redo.
  const finished = await store.head(keys.metrics);
  if (finished) return getJson<TrainClassifierResult>(store, keys.metrics);

  try {
    const data = datasetFor(input.dataset, input.seed);
    const model = buildSmallCnn({
      height: data.height,
      width: data.width,
      channels: data.channels,
      numClasses: data.numClasses,
      filters: input.train.model.filters,
      seed: input.seed,
    });
    const trainer = new ClassifierTrainer(model, data, {
      epochs: input.train.epochs,
      batchSize: input.train.batchSize,
      learningRate: input.train.learningRate,
      optimizer: input.train.optimizer,
      momentum: input.train.momentum,
      seed: input.seed,
    });

    const restoredFrom = await restoreNewestCheckpoint(store, keys.checkpoints, (bytes) => trainer.restore(bytes));
    const resumedFromStep = trainer.position.globalStep;
    if (restoredFrom) log.info(`resuming ${input.stage} of ${input.runId} from ${restoredFrom} (step ${resumedFromStep})`);

    const progress: TrainProgress = {
      checkpointKey: restoredFrom,
      step: resumedFromStep,
      totalSteps: trainer.totalSteps,
      epoch: trainer.position.epoch,
      epochs: input.train.epochs,
    };
    ctx.heartbeat(progress);

    const started = Date.now();
    const meter = new ThroughputMeter();
    await trainer.train({
      checkpointEverySteps: input.train.checkpointEverySteps,
      onEagerStep: (why) => log.info(`${input.stage}: the training step runs on the eager tape (${why}), not as one TensorFlow graph`),
      shouldStop: () => ctx.cancellationSignal.aborted,
      onStep: (report) => {
        meter.add(input.train.batchSize);
        progress.imagesPerSecond = meter.imagesPerSecond;
        progress.etaSeconds = meter.etaSeconds((trainer.totalSteps - report.position.globalStep) * input.train.batchSize);
        progress.step = report.position.globalStep;
        progress.epoch = report.position.epoch;
        progress.loss = report.loss;
        ctx.heartbeat(progress);
      },
      onCheckpoint: async (bytes, position) => {
        const key = keys.checkpoint(position.globalStep);
        await store.put(key, bytes);
        progress.checkpointKey = key;
        ctx.heartbeat(progress);
        await pruneCheckpoints(store, keys.checkpoints, key);
      },
    });
    if (ctx.cancellationSignal.aborted) {
      // The last checkpoint is written; Temporal records the cancellation.
      throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    }

    const evaluation = trainer.evaluate('test');
    await exportTfjsModel(model, store, keys.modelJson, keys.modelWeights, `model ${model.name}`);
    const result: TrainClassifierResult = {
      modelKey: keys.modelJson,
      modelWeightsKey: keys.modelWeights,
      inputShape: [data.height, data.width, data.channels],
      metricsKey: keys.metrics,
      testAccuracy: evaluation.accuracy,
      testLoss: evaluation.loss,
      classes: data.numClasses,
      steps: trainer.totalSteps,
      resumedFromStep,
      attempt: ctx.info.attempt,
      trainSeconds: (Date.now() - started) / 1000,
    };
    // metrics.json is written last: its presence means the stage's outputs are all in place.
    await putJson(store, keys.metrics, { ...result, perClassAccuracy: evaluation.perClassAccuracy, classNames: data.classNames } satisfies StageMetrics);
    model.dispose();
    return result;
  } catch (err) {
    if (PERMANENT.some((type) => err instanceof type)) {
      throw ApplicationFailure.nonRetryable((err as Error).message, (err as Error).name);
    }
    // A diverged training diverges again from the same checkpoint: fail the stage, do not retry.
    throw divergenceFailure(err, `stage ${input.stage}`);
  }
}
