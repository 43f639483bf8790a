/**
 * Elastic training's two activities. `elasticCoordinator` runs the parameter server (one per
 * model, on the main task queue): it checkpoints, heartbeats, and after a crash resumes from the
 * newest checkpoint on whichever worker Temporal retries it. `elasticParticipant` is one worker
 * slot (on the elastic task queue, one per process): it finds the coordinator through the artifact
 * store and computes gradients until training ends. Temporal drives the membership: a process
 * that polls the elastic queue takes a slot and joins; a process that dies stops heartbeating,
 * and its slot goes back to the queue for the next process that comes.
 *
 * The data plane's bearer token is not in the input (so not in Temporal's history): the input
 * carries a random per-training salt, and both sides derive the token from it with this
 * installation's key (engine/elastic/auth.ts, which says why a history reader or a store writer
 * cannot recover it). coordinator.json is signed with the same key; a participant that finds one
 * that does not verify refuses it without contacting its URL.
 */
import { hostname } from 'node:os';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import type { StageData } from '../dsl/dataset';
import type { ElasticSettings } from '../core/stage-settings';
import { efficientNet, EFFICIENTNET_VARIANTS, type EfficientNetVariant } from '../engine/arch/efficientnet';
import type { ArchSpec } from '../engine/arch/spec';
import type { AugmentOptions } from '../engine/data/augment';
import type { ImageDataset } from '../engine/data/dataset';
import { DatasetFormatError } from '../engine/data/idx';
import { DatasetNotFoundError } from '../engine/data/fashion-mnist';
import { DataPlaneKeyError, deriveToken, loadDataPlaneKey, signCoordinatorRecord, verifyCoordinatorRecord, type CoordinatorRecord } from '../engine/elastic/auth';
import { ElasticCheckpointMismatch, ElasticCoordinator, type StepLogEntry } from '../engine/elastic/coordinator';
import { readFlatWeights, weightLayout, writeFlatWeights } from '../engine/elastic/flat-weights';
import { CoordinatorUnreachableError, ParticipantRejectedError, runParticipant } from '../engine/elastic/participant';
import { buildArchModel, toInferenceModel } from '../engine/models/arch-model';
import { buildSmallCnn } from '../engine/models/small-cnn';
import { efficientNetB0For, mobileNetV2For, type DataShape } from '../engine/scaling/baseline';
import { scaleResolution } from '../engine/scaling/scale-arch';
import { evaluateClassifierYielding } from '../engine/train/evaluate';
import { recalibrateOnSplitYielding } from '../engine/train/precise-bn';
import { ThroughputMeter } from '../engine/train/throughput-meter';
import { TrainingDivergedError } from '../engine/train/divergence';
import { advertisedUrl, dataPlaneAddress } from '../engine/elastic/data-plane-address';
import { pruneCheckpoints, restoreNewestCheckpoint } from './checkpoints';
import { runLayout } from '../core/run-layout';
import type { StageMetrics, StepLog } from '../core/artifact-files';
import { datasetFor, storeFor } from './context';
import { divergenceFailure } from './failures';
import { exportTfjsModel } from './model-export';
import type { RunContext } from '../core/refs';

/** What to train: a plain CNN, a reference network adapted to the data, or a stored architecture. */
export type ElasticModelRef =
  | { kind: 'small-cnn'; filters: number }
  | { kind: `efficientnet-${EfficientNetVariant}` | 'mobilenet-v2' }
  | {
      kind: 'arch';
      archKey: string;
      label: string;
      /** Where the architecture came from, and for a scaled one its phi; absent in runs started before they were explicit. */
      role?: 'searched' | 'scaled';
      phi?: number;
    };

export interface ElasticTrainingInput extends RunContext {
  /** Artifact folder of this model's training under the run, e.g. `elastic/phi-1`. */
  stage: string;
  seed: number;
  dataset: StageData;
  elastic: ElasticSettings;
  model: ElasticModelRef;
  /**
   * A random id of this training, made by the workflow: not a secret. The data plane's token is
   * HMAC(installation key, salt), derived by the coordinator and the participants (auth.ts).
   */
  salt: string;
}

/**
 * The input as workflows scheduled it before the salt: the token itself, in plain text in the
 * history. A run in flight across the upgrade still carries it; it is used as it is.
 */
export type RecordedElasticTrainingInput = Omit<ElasticTrainingInput, 'salt'> & { token: string };

/** The training's scope for coordinator.json's signature, and its token. */
function credentialsOf(input: { runId: string; stage: string; salt: string } | { runId: string; stage: string; token: string }, key: Buffer) {
  const salt = 'salt' in input ? input.salt : `recorded-token:${input.runId}:${input.stage}`;
  return { scope: { runId: input.runId, stage: input.stage, salt }, token: 'token' in input ? input.token : deriveToken(key, input.salt) };
}

export interface ElasticTrainingResult {
  model: ElasticModelRef;
  modelKey: string;
  modelWeightsKey: string;
  inputShape: number[];
  metricsKey: string;
  logPrefix: string;
  testAccuracy: number;
  testLoss: number;
  /** Classes of the data set, so that a test accuracy at chance can be told (absent in older runs). */
  classes?: number;
  steps: number;
  epochs: number;
  /** Distinct worker processes that contributed at least one gradient. */
  workersSeen: number;
  resumedFromStep: number;
  attempt: number;
  trainSeconds: number;
}

/** Heartbeat details of the coordinator: resume point and live progress for the CLI. */
export interface ElasticProgress {
  checkpointKey?: string;
  step: number;
  epoch: number;
  epochs: number;
  samplesDone: number;
  samplesTotal: number;
  workers: number;
  learningRate?: number;
  loss?: number;
  imagesPerSecond?: number;
  /** Seconds left at the current rate. */
  etaSeconds?: number;
  /** Accuracy after the last finished epoch, on a fixed sample of the test split (shown, never used to choose). */
  accuracy?: ProgressAccuracy;
}

/** An accuracy a progress line shows, and what it was measured on. */
export interface ProgressAccuracy {
  value: number;
  on: string;
}

/** Test images scored after each epoch for the progress line: a second or two, not a full pass. */
const PROGRESS_EVAL_IMAGES = 2000;

const PERMANENT = [DatasetNotFoundError, DatasetFormatError, ElasticCheckpointMismatch, ParticipantRejectedError, DataPlaneKeyError];

/**
 * Failures a retry cannot fix fail the training at once. A divergence is one (the same checkpoint
 * diverges again), named with `where`. A coordinator record that does not verify is not: the slot
 * is retried, and the coordinator's next attempt writes a genuine record.
 */
function permanentOr(err: unknown, where: string): unknown {
  if (err instanceof TrainingDivergedError) return divergenceFailure(err, where);
  if (PERMANENT.some((type) => err instanceof type)) return ApplicationFailure.nonRetryable((err as Error).message, (err as Error).name);
  return err;
}

async function archFor(ref: ElasticModelRef, store: ArtifactStore, data: ImageDataset): Promise<ArchSpec | undefined> {
  const shape = { resolution: data.height, channels: data.channels, numClasses: data.numClasses };
  switch (ref.kind) {
    case 'small-cnn':
      return undefined;
    case 'mobilenet-v2':
      return mobileNetV2For(shape);
    case 'arch':
      return getJson<ArchSpec>(store, ref.archKey);
    default:
      return efficientNetFor(ref.kind.slice('efficientnet-'.length) as EfficientNetVariant, shape);
  }
}

/**
 * EfficientNet-B0..B7 fitted to the data as B0 is (efficientNetB0For): B0's stride plan for this
 * resolution, the variant's own widths and depths, and the input side grown by the variant's
 * resolution ratio to B0, as compound scaling grows it (B1 on 28 px data: 30 px; on 224: 240).
 */
function efficientNetFor(variant: EfficientNetVariant, shape: DataShape): ArchSpec {
  const b0 = efficientNetB0For(shape);
  if (variant === 'b0') return b0;
  const full = efficientNet(variant, shape.numClasses);
  const resolution = scaleResolution(b0.resolution, EFFICIENTNET_VARIANTS[variant].resolution / EFFICIENTNET_VARIANTS.b0.resolution);
  return {
    ...full,
    name: shape.resolution >= 224 ? full.name : `${full.name}-${resolution}px`,
    resolution,
    inputChannels: b0.inputChannels,
    stem: { ...full.stem, stride: b0.stem.stride },
    // Same block list as B0 (only widths and repeats differ), so entry i keeps B0's stride.
    blocks: full.blocks.map((b, i) => ({ ...b, stride: b0.blocks[i].stride })),
  };
}

async function buildModel(ref: ElasticModelRef, store: ArtifactStore, data: ImageDataset, seed: number) {
  const arch = await archFor(ref, store, data);
  const model = arch
    ? buildArchModel(arch, { seed })
    : buildSmallCnn({ height: data.height, width: data.width, channels: data.channels, numClasses: data.numClasses, filters: ref.kind === 'small-cnn' ? ref.filters : 16, seed });
  return { model, arch };
}

const workerName = () => `${hostname()}:${process.pid}`;

export async function elasticCoordinator(input: ElasticTrainingInput | RecordedElasticTrainingInput): Promise<ElasticTrainingResult> {
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).elastic(input.stage);
  const finished = await store.head(keys.metrics);
  if (finished) return getJson<ElasticTrainingResult>(store, keys.metrics);

  let serving: ElasticCoordinator | undefined;
  try {
    const key = loadDataPlaneKey();
    const credentials = credentialsOf(input, key);
    const data = datasetFor(input.dataset, input.seed);
    const { model, arch } = await buildModel(input.model, store, data, input.seed);
    const e = input.elastic;
    const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: data.train.count }, (_, i) => i), {
      policy: e.policy,
      learningRate: e.learningRate,
      perWorkerBatch: e.perWorkerBatch,
      maxWorkers: e.workers.max,
      windowIterations: e.windowIterations,
      schedule: e.schedule,
      momentum: e.momentum,
      minWorkers: e.workers.min,
      epochs: e.epochs,
      seed: input.seed,
      checkpointEverySteps: e.checkpointEverySteps,
      stepTimeoutMs: e.stepTimeoutSeconds * 1000,
      token: credentials.token,
    });
    const restoredFrom = await restoreNewestCheckpoint(store, keys.checkpoints, async (bytes) => coordinator.restore(bytes));
    const resumedFromStep = coordinator.step;
    if (restoredFrom) log.info(`resuming elastic training ${input.stage} of ${input.runId} from ${restoredFrom} (step ${resumedFromStep})`);

    const address = dataPlaneAddress(input.artifactLocation);
    const bound = await coordinator.listen(address.bind, address.port);
    serving = coordinator;
    const url = advertisedUrl(address, Number(new URL(bound).port));
    // Signed: a participant connects (and shows its token) only to a coordinator of this installation.
    await putJson(store, keys.coordinator, signCoordinatorRecord(key, { url, attempt: ctx.info.attempt, worker: workerName(), startedAt: new Date().toISOString() }, credentials.scope));

    const progress: ElasticProgress = {
      checkpointKey: restoredFrom,
      step: coordinator.step,
      epoch: coordinator.epoch,
      epochs: e.epochs,
      samplesDone: coordinator.samplesDone,
      samplesTotal: coordinator.samplesTotal,
      workers: 0,
    };
    // Waiting for workers must not look like death: heartbeat on a timer, not only per step.
    const beat = setInterval(() => {
      progress.workers = coordinator.presentWorkers().length;
      ctx.heartbeat(progress);
    }, 1000);
    const seen = new Set<string>();
    const started = Date.now();
    const meter = new ThroughputMeter();
    // Precise BN (engine/train/precise-bn.ts) on the local copy only: the coordinator's own
    // statistics, and so its checkpoints and what workers receive, stay as they were.
    // Yielding, with heartbeats, like the test passes: the coordinator keeps serving meanwhile.
    const calibrate = () => recalibrateOnSplitYielding(model, data, data.train, { batchSize: e.perWorkerBatch, seed: input.seed, onBatch: () => ctx.heartbeat(progress) });
    const progressSample = Uint32Array.from({ length: Math.min(PROGRESS_EVAL_IMAGES, data.test.count) }, (_, i) => i);
    let completed: boolean;
    try {
      completed = await coordinator.run({
        onStep: (entry: StepLogEntry) => {
          for (const w of entry.workers) seen.add(w);
          Object.assign(progress, {
            step: coordinator.step,
            epoch: coordinator.epoch,
            samplesDone: coordinator.samplesDone,
            workers: entry.workers.length,
            learningRate: entry.learningRate,
            loss: entry.loss,
          });
          meter.add(entry.globalBatch);
          progress.imagesPerSecond = meter.imagesPerSecond;
          progress.etaSeconds = meter.etaSeconds(coordinator.samplesTotal - coordinator.samplesDone);
          ctx.heartbeat(progress);
        },
        onEpoch: async (summary) => {
          await putJson(store, keys.coverage(summary.epoch), summary);
          writeFlatWeights(model, coordinator.weights);
          await calibrate();
          const sampled = await evaluateClassifierYielding(model, data, data.test, { indices: progressSample, onBatch: () => ctx.heartbeat(progress) });
          progress.accuracy = { value: sampled.accuracy, on: `${progressSample.length} test images` };
          log.info(`elastic ${input.stage}: epoch ${summary.epoch + 1}/${e.epochs} done in ${summary.steps} steps, mean loss ${summary.meanLoss.toFixed(4)}`);
        },
        onCheckpoint: async (bytes, step, entries) => {
          // The log first: a checkpoint never refers to steps whose log could be missing.
          if (entries.length > 0) await putJson(store, keys.log(entries[0].step), entries satisfies StepLog);
          const key = keys.checkpoint(step);
          await store.put(key, bytes);
          progress.checkpointKey = key;
          ctx.heartbeat(progress);
          await pruneCheckpoints(store, keys.checkpoints, key);
        },
        onWaiting: (present, needed) => {
          progress.workers = present;
          if (present < needed) ctx.heartbeat(progress);
        },
        shouldStop: () => ctx.cancellationSignal.aborted,
      });
    } finally {
      clearInterval(beat);
    }
    if (!completed) {
      await coordinator.close(0);
      throw ctx.cancellationSignal.reason ?? new Error('elastic training stopped before its last epoch');
    }

    writeFlatWeights(model, coordinator.weights);
    // The averaged moving statistics lag the weights and, after a short training, are still near
    // their initial 0 and 1: re-estimated for the final weights before the test pass and the export.
    await calibrate();
    // Heartbeats go on through the test pass: it can outlast the heartbeat timeout, and a coordinator
    // that looked dead here would be retried while it is still finishing.
    const evaluation = await evaluateClassifierYielding(model, data, data.test, { onBatch: () => ctx.heartbeat(progress) });
    const exported = arch ? toInferenceModel(arch, model) : model;
    // Refuses (TrainingDivergedError) a model with a non-finite weight: nothing is stored then.
    await exportTfjsModel(exported, store, keys.modelJson, keys.modelWeights, `model ${exported.name}`);
    const result: ElasticTrainingResult = {
      model: input.model,
      modelKey: keys.modelJson,
      modelWeightsKey: keys.modelWeights,
      inputShape: [data.height, data.width, data.channels],
      metricsKey: keys.metrics,
      logPrefix: keys.logPrefix,
      testAccuracy: evaluation.accuracy,
      testLoss: evaluation.loss,
      classes: data.numClasses,
      steps: coordinator.step,
      epochs: e.epochs,
      workersSeen: seen.size,
      resumedFromStep,
      attempt: ctx.info.attempt,
      trainSeconds: (Date.now() - started) / 1000,
    };
    await putJson(store, keys.metrics, { ...result, perClassAccuracy: evaluation.perClassAccuracy, classNames: data.classNames } satisfies StageMetrics);
    // Only now tell the workers: they stop once the result is safe.
    await coordinator.close();
    await store.delete(keys.coordinator);
    if (exported !== model) exported.dispose();
    model.dispose();
    return result;
  } catch (err) {
    // A failed attempt stops serving at once: its workers find the next attempt's record instead.
    await serving?.close(0).catch(() => undefined);
    throw permanentOr(err, `stage ${input.stage}`);
  }
}

export interface ElasticParticipantInput extends RunContext {
  stage: string;
  seed: number;
  dataset: StageData;
  model: ElasticModelRef;
  /** As in ElasticTrainingInput: the token is derived from it, never passed. */
  salt: string;
  weightDecay: number;
  /** Absent in inputs scheduled before these options existed: none. */
  labelSmoothing?: number;
  augment?: AugmentOptions;
  /** Which of the workers.max slots this is, for logs. */
  slot: number;
}

/** A participant scheduled before the salt: its token in the input (see RecordedElasticTrainingInput). */
export type RecordedElasticParticipantInput = Omit<ElasticParticipantInput, 'salt'> & { token: string };

/**
 * The coordinator record in the store, if there is one, verified for this training: throws
 * CoordinatorRecordRejectedError for one that does not verify, before anything contacts its URL.
 */
export async function findCoordinator(store: ArtifactStore, recordKey: string, key: Buffer, scope: { runId: string; stage: string; salt: string }): Promise<CoordinatorRecord | undefined> {
  if (!(await store.head(recordKey))) return undefined;
  const record = await getJson<unknown>(store, recordKey).catch(() => undefined);
  // Being rewritten, or removed as the training finished: looked up again.
  if (record === undefined) return undefined;
  return verifyCoordinatorRecord(key, record, scope, recordKey);
}

export interface ElasticParticipantResult {
  steps: number;
  samples: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function elasticParticipant(input: ElasticParticipantInput | RecordedElasticParticipantInput): Promise<ElasticParticipantResult> {
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).elastic(input.stage);
  const progress = { steps: 0, samples: 0, coordinator: undefined as string | undefined };
  const beat = setInterval(() => ctx.heartbeat(progress), 1000);
  try {
    const key = loadDataPlaneKey();
    const credentials = credentialsOf(input, key);
    const data = datasetFor(input.dataset, input.seed);
    const { model } = await buildModel(input.model, store, data, input.seed);
    const leave = new AbortController();
    ctx.cancellationSignal.addEventListener('abort', () => leave.abort());
    try {
      for (;;) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
        if (await store.head(keys.metrics)) return progress;
        const record = await findCoordinator(store, keys.coordinator, key, credentials.scope);
        if (!record) {
          await sleep(1000);
          continue;
        }
        progress.coordinator = record.url;
        try {
          const outcome = await runParticipant({
            url: record.url,
            token: credentials.token,
            name: workerName(),
            model,
            data,
            weightDecay: input.weightDecay,
            labelSmoothing: input.labelSmoothing,
            augment: input.augment,
            signal: leave.signal,
            onEagerStep: (why) => log.info(`elastic ${input.stage}: the training step runs on the eager tape (${why}), not as one TensorFlow graph`),
            onStep: (s) => {
              progress.steps++;
              progress.samples += s.samples;
            },
          });
          if (outcome.outcome === 'stopped') throw ctx.cancellationSignal.reason ?? new Error('cancelled');
          return progress;
        } catch (err) {
          // The coordinator is restarting elsewhere (or finishing): look it up again shortly.
          if (!(err instanceof CoordinatorUnreachableError)) throw err;
          await sleep(1000);
        }
      }
    } finally {
      model.dispose();
    }
  } catch (err) {
    throw permanentOr(err, `stage ${input.stage}, worker slot ${input.slot}`);
  } finally {
    clearInterval(beat);
  }
}
