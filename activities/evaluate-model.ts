/**
 * The evaluation stage's work: one trained model, exactly as it was exported (model.json + weights
 * from the artifact store, what a browser or a phone would load), measured for test accuracy,
 * size, multiply-adds and latency on every hardware target; then one summary of all the models.
 *
 * Evaluating the exported file rather than the model in training memory is the point: whatever
 * the report says is true of the artifact users ship.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import type { DatasetConfig } from '../dsl/dataset';
import { DatasetFormatError } from '../engine/data/idx';
import { DatasetNotFoundError } from '../engine/data/fashion-mnist';
import { countMacs } from '../engine/latency/macs';
import { countParams } from '../engine/models/param-count';
import { loadSavedModel } from '../engine/models/saved-model';
import { evaluateClassifierYielding, type EvaluationTally } from '../engine/train/evaluate';
import type { LatencyMeasurement } from '../plugins/api';
import { runLayout } from '../core/run-layout';
import { datasetFor, storeFor } from './context';
import { copyStoredModel, measureModelOn, resolveTargets } from './target-measure';
import type { ModelRole, RunContext, TargetRef } from '../core/refs';
import type { EvaluatedModel, EvaluationSummary } from '../core/artifact-files';

/** `runs/<run>/evaluation/summary.json` and its rows: the file's schema is core/artifact-files.ts's. */
export type { EvaluatedModel, EvaluationSummary };

/** One model to evaluate: where its export is and how to name it. */
export interface ModelToEvaluate {
  id: string;
  role: ModelRole;
  label: string;
  modelKey: string;
  modelWeightsKey: string;
  /** Append the model's input side to the label ("EfficientNet-B1 (30 px)"), known only once it is loaded. */
  labelWithResolution?: boolean;
}

export interface EvaluateModelInput extends RunContext {
  seed: number;
  dataset: DatasetConfig;
  model: ModelToEvaluate;
  targets: TargetRef[];
  /** Absolute paths of the user plugin modules the pipeline declared. */
  pluginFiles: string[];
  /** Images per forward pass when measuring accuracy. */
  batchSize: number;
  /** Untimed then timed inferences per target, for targets whose config has these fields. */
  warmupRuns: number;
  repeats: number;
  /** Which of the stage's models this is (1-based) and how many there are, for progress. */
  index: number;
  count: number;
  /** Seconds between checkpoints of the accuracy pass; a checkpoint also follows each finished phase. Default 60. */
  checkpointEverySeconds?: number;
}

/** What `models/<id>.json` holds: the summary's row plus what went into it. */
export interface EvaluatedModelRecord extends EvaluatedModel {
  datasetName: string;
  classNames: string[];
  /** The model's own input (height, width, channels); test images are resized to it. */
  inputShape: number[];
  testCount: number;
  /** Trainable and non-trainable (BatchNorm statistics) parameters; `params` is their sum. */
  trainableParams: number;
  /** Each target's full measurement, with the number of timed runs. */
  measurements: Record<string, LatencyMeasurement & { plugin: string }>;
  /** Set when a retry continued from a checkpoint: the test images and targets it did not redo. */
  resumedFrom?: { testImages: number; targets: string[] };
}

/** What the workflow gets back: small, no per-class numbers. */
export type EvaluatedModelBrief = Pick<EvaluatedModel, 'id' | 'role' | 'label' | 'params' | 'macs' | 'testAccuracy' | 'latency'> & {
  resultKey: string;
  /** Classes of the data set, so that a test accuracy at chance can be told (absent in older runs). */
  classes?: number;
};

/** The evaluation activity's heartbeat: what `nas run` shows while it runs. */
export interface EvaluationProgress {
  index: number;
  count: number;
  model: string;
  label: string;
  phase: 'loading' | 'accuracy' | 'latency';
  /** The target being measured (latency phase). */
  target?: string;
  done: number;
  total: number;
}

/**
 * What a killed evaluation of one model keeps (`checkpoints/<id>.json`, deleted once the model's
 * record is written): the accuracy pass so far and the targets already measured. A large model's
 * test pass on a CPU takes hours; a retry continues from here rather than from the start.
 */
export interface EvaluationCheckpoint {
  format: 'nas-evaluation-checkpoint/1';
  /** The export it was taken of: a checkpoint of another export is not resumed. */
  modelKey: string;
  modelWeightsKey: string;
  testCount: number;
  tally: EvaluationTally;
  measurements: Record<string, LatencyMeasurement & { plugin: string }>;
}

/** The stored checkpoint if it belongs to this model and test split; else undefined, saying why in the worker log. */
export async function readEvaluationCheckpoint(store: ArtifactStore, key: string, model: ModelToEvaluate, testCount: number): Promise<EvaluationCheckpoint | undefined> {
  if (!(await store.head(key))) return undefined;
  const log = Context.current().log;
  let saved: EvaluationCheckpoint;
  try {
    saved = await getJson<EvaluationCheckpoint>(store, key);
  } catch (err) {
    log.warn(`evaluation checkpoint ${key} is unreadable (${(err as Error).message}); evaluating ${model.id} from the start`);
    return undefined;
  }
  const fits =
    saved.format === 'nas-evaluation-checkpoint/1' &&
    saved.modelKey === model.modelKey &&
    saved.modelWeightsKey === model.modelWeightsKey &&
    saved.testCount === testCount &&
    Number.isInteger(saved.tally?.done) &&
    saved.tally.done >= 0 &&
    saved.tally.done <= testCount;
  if (!fits) {
    log.warn(`evaluation checkpoint ${key} is of another export or test split; evaluating ${model.id} from the start`);
    return undefined;
  }
  return saved;
}

function brief(r: EvaluatedModelRecord, resultKey: string): EvaluatedModelBrief {
  return { id: r.id, role: r.role, label: r.label, params: r.params, macs: r.macs, testAccuracy: r.testAccuracy, latency: r.latency, resultKey, classes: r.classNames.length || undefined };
}

const PERMANENT = [DatasetNotFoundError, DatasetFormatError];

export async function evaluateModel(input: EvaluateModelInput): Promise<EvaluatedModelBrief> {
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).evaluation;
  const resultKey = keys.model(input.model.id);
  const checkpointKey = keys.checkpoint(input.model.id);
  // A retry after the work finished: report, never measure again (a kill may have come between
  // writing the record and deleting the checkpoint).
  if (await store.head(resultKey)) {
    if (await store.head(checkpointKey)) await store.delete(checkpointKey);
    return brief(await getJson<EvaluatedModelRecord>(store, resultKey), resultKey);
  }

  const progress: EvaluationProgress = { index: input.index, count: input.count, model: input.model.id, label: input.model.label, phase: 'loading', done: 0, total: 0 };
  const beat = (update: Partial<EvaluationProgress>) => ctx.heartbeat(Object.assign(progress, update));
  beat({});

  const targets = resolveTargets(input.targets, input.pluginFiles, 'measureModel', input);

  const dir = mkdtempSync(join(tmpdir(), 'nas-eval-'));
  try {
    await copyStoredModel(store, { json: input.model.modelKey, weights: input.model.modelWeightsKey }, dir);
    const data = (() => {
      try {
        return datasetFor(input.dataset, input.seed);
      } catch (err) {
        if (PERMANENT.some((type) => err instanceof type)) throw ApplicationFailure.nonRetryable((err as Error).message, (err as Error).name);
        throw err;
      }
    })();

    const resumed = await readEvaluationCheckpoint(store, checkpointKey, input.model, data.test.count);
    // Taken now: the checkpoint object moves on with the pass.
    const resumedFrom = resumed && { testImages: resumed.tally.done, targets: Object.keys(resumed.measurements) };
    const checkpoint: EvaluationCheckpoint = resumed ?? {
      format: 'nas-evaluation-checkpoint/1',
      modelKey: input.model.modelKey,
      modelWeightsKey: input.model.modelWeightsKey,
      testCount: data.test.count,
      tally: { done: 0, correctPerClass: new Array<number>(data.numClasses).fill(0), totalPerClass: new Array<number>(data.numClasses).fill(0), lossSum: 0 },
      measurements: {},
    };
    const saveCheckpoint = () => putJson(store, checkpointKey, checkpoint);
    const everyMs = (input.checkpointEverySeconds ?? 60) * 1000;
    let savedAt = Date.now();

    const model = await loadSavedModel(dir);
    let inputShape: number[];
    let params: ReturnType<typeof countParams>;
    let macs: number;
    let accuracy: { accuracy: number; perClassAccuracy: number[]; count: number };
    try {
      inputShape = model.inputs[0].shape.slice(1).map((d) => d ?? 0);
      if (inputShape[2] !== data.channels) {
        throw ApplicationFailure.nonRetryable(
          `model ${input.model.id} (${input.model.modelKey}) takes ${inputShape[2]}-channel images but ${data.name} has ${data.channels}`,
          'ModelDataMismatchError',
        );
      }
      params = countParams(model);
      macs = countMacs(model);
      const passDone = checkpoint.tally.done === data.test.count;
      accuracy = await evaluateClassifierYielding(model, data, data.test, {
        batchSize: input.batchSize,
        from: checkpoint.tally,
        onBatch: async (done, total, tally) => {
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
          beat({ phase: 'accuracy', done, total });
          checkpoint.tally = tally;
          if (Date.now() - savedAt >= everyMs) {
            await saveCheckpoint();
            savedAt = Date.now();
          }
        },
      });
      if (!passDone) await saveCheckpoint();
    } finally {
      model.dispose();
    }

    // One target at a time: measurements sharing the CPU would disturb each other's timings.
    const measurements: EvaluatedModelRecord['measurements'] = {};
    for (const t of targets) {
      const earlier = checkpoint.measurements[t.id];
      if (earlier?.plugin === t.plugin.name) {
        measurements[t.id] = earlier;
        continue;
      }
      beat({ phase: 'latency', target: t.id, done: 0, total: 0 });
      const measured = await measureModelOn(t, dir, inputShape, {
        heartbeat: (details) => {
          const d = details as { done?: number; total?: number } | undefined;
          beat({ phase: 'latency', target: t.id, done: d?.done ?? progress.done, total: d?.total ?? progress.total });
        },
        signal: ctx.cancellationSignal,
        readArtifact: (key) => store.get(key),
      });
      measurements[t.id] = { ...measured, plugin: t.plugin.name };
      checkpoint.measurements = { ...measurements };
      await saveCheckpoint();
    }

    const label = input.model.labelWithResolution ? `${input.model.label} (${inputShape[0]} px)` : input.model.label;
    const record: EvaluatedModelRecord = {
      id: input.model.id,
      role: input.model.role,
      label,
      params: params.total,
      macs,
      testAccuracy: accuracy.accuracy,
      perClassAccuracy: accuracy.perClassAccuracy,
      latency: Object.fromEntries(Object.entries(measurements).map(([id, m]) => [id, { medianMs: m.medianMs, p90Ms: m.p90Ms ?? m.medianMs }])),
      modelKey: input.model.modelKey,
      modelWeightsKey: input.model.modelWeightsKey,
      datasetName: data.name,
      classNames: data.classNames,
      inputShape,
      testCount: accuracy.count,
      trainableParams: params.trainable,
      measurements,
      ...(resumedFrom ? { resumedFrom: { ...resumedFrom, targets: resumedFrom.targets.filter((id) => id in measurements) } } : {}),
    };
    await putJson(store, resultKey, record);
    await store.delete(checkpointKey);
    return brief(record, resultKey);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SummarizeEvaluationInput extends RunContext {
  pipelineName: string;
  targets: { id: string; plugin: string }[];
  /** The `models/<id>.json` keys, in the order the summary lists them. */
  resultKeys: string[];
}

/** Gathers the per-model records into `summary.json`; rewriting it on a retry gives the same bytes. */
export async function summarizeEvaluation(input: SummarizeEvaluationInput): Promise<string> {
  const store = storeFor(input.artifactLocation);
  const key = runLayout(input.runId).evaluation.summary;
  const records = await Promise.all(input.resultKeys.map((k) => getJson<EvaluatedModelRecord>(store, k)));
  const first = records[0];
  const summary = {
    runId: input.runId,
    pipelineName: input.pipelineName,
    datasetName: first?.datasetName ?? '',
    classNames: first?.classNames ?? [],
    targets: input.targets.map(({ id, plugin }) => ({ id, plugin })),
    models: records.map((r) => ({
      id: r.id,
      role: r.role,
      label: r.label,
      params: r.params,
      macs: r.macs,
      testAccuracy: r.testAccuracy,
      perClassAccuracy: r.perClassAccuracy,
      latency: r.latency,
      modelKey: r.modelKey,
      modelWeightsKey: r.modelWeightsKey,
    })),
  } satisfies EvaluationSummary;
  await putJson(store, key, summary);
  return key;
}
