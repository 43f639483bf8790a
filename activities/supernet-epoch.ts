/**
 * One epoch of ProxylessNAS: weight steps on the training split with sampled binary gates, and,
 * after the warm-up epochs, an architecture step on the held-out validation split every few weight
 * steps. The supernet checkpoint (all path weights, alpha, optimizer slots, counters) goes to the
 * artifact store every N steps; a retried attempt resumes from the newest one that verifies, and the
 * step counter inside it says exactly which batch comes next. The architecture update rule is the
 * one-shot strategy plugin's, resolved by name on this worker like a hardware target.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import { epochOrder, imageBatches, makeBatch, sequentialChunks } from '../engine/data/batches';
import type { ImageDataset } from '../engine/data/dataset';
import { splitIndices } from '../engine/data/split';
import { encodeBlock } from '../engine/arch/block-string';
import { loadTf } from '../engine/backend';
import { fixedLatencyMs, latencyMatrix } from '../engine/latency-table';
import { learningRateAt } from '../engine/train/schedule';
import { ThroughputMeter } from '../engine/train/throughput-meter';
import { OneShotStrategyError, Supernet, SupernetCheckpointError } from '../engine/supernet';
import type { StageData } from '../dsl/dataset';
import { searchResolution, type SearchSpace } from '../dsl/search-space';
import type { OneShotStrategyPlugin } from '../plugins/api';
import { registryWithPluginFiles } from '../plugins/load';
import { checkpointKey, pruneCheckpoints, restoreNewestCheckpoint } from './checkpoints';
import { divergenceFailure } from './failures';
import { datasetFor, storeFor } from './context';
import type { TrainProgress } from './train-classifier';
import { loadLatencyTable, searchOps } from './latency-table';

/** Validation examples scored at each epoch's end for the argmax architecture. */
const EPOCH_EVAL_EXAMPLES = 1000;
/** Training examples that re-estimate the argmax architecture's BatchNorm statistics first (Once-for-All uses 2,000). */
const CALIBRATION_EXAMPLES = 2000;

export interface SupernetEpochInput {
  runId: string;
  artifactLocation: string;
  seed: number;
  dataset: StageData;
  space: SearchSpace;
  /** The one-shot strategy plugin's name (`strategy.plugin` in the pipeline). */
  strategy: string;
  /** The user plugin modules the pipeline declared, so that a user strategy resolves on any worker. */
  pluginFiles: string[];
  epoch: number;
  epochs: number;
  warmupEpochs: number;
  batchSize: number;
  learningRate: number;
  /** The strategy plugin's config; parsed again here with the plugin's schema, which fills its defaults. */
  strategyConfig: Record<string, unknown>;
  /** Artifact key of the target's per-op latency table, or undefined when latency plays no part. */
  latencyTableKey?: string;
  latencyWeight: number;
  /** With it, the latency term is latencyWeight * |LAT / latencyTargetMs - 1| over the whole net. */
  latencyTargetMs?: number;
  checkpointEverySteps: number;
}

/**
 * The input as workflows recorded it before strategies were plugins: `mode` named one of the two
 * built-ins and no plugin files travelled. Runs in flight still schedule it on replay.
 */
export type RecordedSupernetEpochInput = Omit<SupernetEpochInput, 'strategy' | 'pluginFiles'> & { mode: 'proxyless-gradient' | 'proxyless-reinforce' };

export interface SupernetEpochMetrics {
  epoch: number;
  steps: number;
  /**
   * Mean training loss over the weight steps the finishing attempt ran (a retry resumes mid-epoch).
   * Absent when it ran none: a retry that found the epoch trained to its end in the last checkpoint.
   */
  meanLoss?: number;
  /** Mean entropy (nats) of the decisions' path distributions: falls as the search settles. */
  meanEntropy: number;
  /** E[LAT] of the net under softmax(alpha), in ms: the stem and head every net shares plus the mixed ops' expectation (the mixed ops alone with a table measured before tables held the stem and head). */
  expectedLatencyMs?: number;
  /** Validation accuracy of the current argmax architecture (a sample of the split). */
  validationAccuracy: number;
  blocks: string[];
  choices: number[];
  resumedFromStep: number;
  checkpointKey: string;
}

export function searchKeys(runId: string) {
  const base = `runs/${runId}/search`;
  return {
    checkpoints: `${base}/supernet/`,
    checkpoint: (step: number) => checkpointKey(`${base}/supernet/`, step),
    epoch: (epoch: number) => `${base}/epochs/epoch-${String(epoch).padStart(4, '0')}.json`,
    derived: `${base}/derived.arch.json`,
  };
}

export interface SearchLatency {
  /** (decision, option) -> ms. */
  matrix: number[][];
  /** The ops every architecture has (stem, head): what a latency target adds to the mixed ops'. */
  fixedMs: number;
}

/** The stored table as the supernet reads it, at the search's resolution. */
async function searchLatencyOf(store: ArtifactStore, input: SupernetEpochInput, data: ImageDataset): Promise<SearchLatency | undefined> {
  if (!input.latencyTableKey) return undefined;
  const table = await loadLatencyTable(store, input.latencyTableKey);
  const ops = searchOps(input.space, input.dataset, data);
  return { matrix: latencyMatrix(table, ops), fixedMs: fixedLatencyMs(table, ops) };
}

/** Today's input from either shape. */
export function currentEpochInput(input: SupernetEpochInput | RecordedSupernetEpochInput): SupernetEpochInput {
  if (!('mode' in input)) return input;
  const { mode, ...rest } = input;
  return { ...rest, strategy: mode, pluginFiles: [] };
}

/** The named plugin from the built-ins and the pipeline's plugin files; a wrong name fails the run, it does not retry. */
export function resolveOneShotStrategy(input: Pick<SupernetEpochInput, 'strategy' | 'pluginFiles'>): OneShotStrategyPlugin {
  const registry = registryWithPluginFiles(input.pluginFiles);
  const plugin = registry.get('search-strategy', input.strategy);
  if (!plugin) {
    const known = registry.names('search-strategy').filter((n) => registry.get('search-strategy', n)?.mode === 'one-shot');
    throw ApplicationFailure.nonRetryable(`search strategy "${input.strategy}" is not registered on this worker (one-shot strategies here: ${known.join(', ')})`, 'PluginLoadError');
  }
  if (plugin.mode !== 'one-shot') {
    throw ApplicationFailure.nonRetryable(`search strategy "${input.strategy}" is a ${plugin.mode} strategy; the supernet search needs a one-shot one`, 'PluginLoadError');
  }
  return plugin;
}

export function buildSupernet(input: SupernetEpochInput, data: ImageDataset, latency?: SearchLatency): Supernet {
  return new Supernet({
    space: input.space,
    numClasses: data.numClasses,
    inputChannels: data.channels,
    resolution: searchResolution(input.space, input.dataset),
    seed: input.seed,
    strategy: { plugin: resolveOneShotStrategy(input), config: input.strategyConfig },
    // Each path sees only the batches that sample it: BatchNorm's usual 0.99 would leave its
    // moving statistics near their start and the argmax network would evaluate near chance.
    bn: { momentum: 0.9, epsilon: 1e-3 },
    weightOptimizer: { learningRate: input.learningRate },
    latencyTable: latency?.matrix,
    latencyWeight: latency ? input.latencyWeight : 0,
    latencyTarget: latency && input.latencyTargetMs !== undefined ? { ms: input.latencyTargetMs, fixedMs: latency.fixedMs } : undefined,
  });
}

/** A strategy's bug or bad config fails every attempt alike: the run fails with its message instead of retrying. */
function asRunFailure(err: unknown): never {
  if (err instanceof OneShotStrategyError) throw ApplicationFailure.nonRetryable(err.message, err.name);
  throw err;
}

function strategyFailures<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    return asRunFailure(err);
  }
}

export async function supernetEpoch(recorded: SupernetEpochInput | RecordedSupernetEpochInput): Promise<SupernetEpochMetrics> {
  const input = currentEpochInput(recorded);
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  const keys = searchKeys(input.runId);
  if (await store.head(keys.epoch(input.epoch))) return getJson<SupernetEpochMetrics>(store, keys.epoch(input.epoch));

  const data = datasetFor(input.dataset, input.seed);
  const split = splitIndices(data.train.count, input.dataset.validationFraction, input.seed);
  if (split.validation.length === 0) {
    throw ApplicationFailure.nonRetryable('the search needs a validation split: set dataset.validationFraction above 0', 'PipelineValidationError');
  }
  const stepsPerEpoch = Math.ceil(split.train.length / input.batchSize);
  const latency = await searchLatencyOf(store, input, data);
  const net = strategyFailures(() => buildSupernet(input, data, latency));
  // Images reach the supernet at its resolution, resized where the data set's differs.
  const sized = { size: net.resolution };
  try {
    let restoredFrom: string | undefined;
    try {
      restoredFrom = await restoreNewestCheckpoint(store, keys.checkpoints, (bytes) => net.restore(bytes));
    } catch (err) {
      if (err instanceof SupernetCheckpointError) throw ApplicationFailure.nonRetryable(err.message, err.name);
      throw err;
    }
    const epochStart = input.epoch * stepsPerEpoch;
    const epochEnd = epochStart + stepsPerEpoch;
    if (net.weightSteps > epochEnd) {
      throw ApplicationFailure.nonRetryable(
        `epoch ${input.epoch} ends at supernet step ${epochEnd}, but the newest checkpoint (${restoredFrom}) is already at step ${net.weightSteps}: it belongs to another search`,
        'CheckpointMismatchError',
      );
    }
    // A checkpoint from before this epoch (the one at its start was corrupt, or none survived):
    // every step is a function of the seed and the step, so the steps in between are trained
    // again, each with its own epoch's order and rules, and this epoch starts where it always did.
    if (net.weightSteps < epochStart) {
      log.warn(`epoch ${input.epoch} starts at supernet step ${epochStart}; the newest usable checkpoint (${restoredFrom ?? 'none'}) is at step ${net.weightSteps}, so steps ${net.weightSteps}-${epochStart} are trained again`);
    }
    const resumedFromStep = net.weightSteps;
    const orders = new Map<number, Uint32Array>();
    const orderOf = (epoch: number): Uint32Array => {
      let order = orders.get(epoch);
      if (!order) orders.set(epoch, (order = epochOrder(split.train.length, input.seed, epoch)));
      return order;
    };
    const order = orderOf(input.epoch);
    const valOrder = epochOrder(split.validation.length, input.seed ^ 0x7a1, 0);
    const schedule = { kind: 'cosine' as const, baseRate: input.learningRate, totalSteps: stepsPerEpoch * input.epochs, warmupSteps: 0, minRate: 0, decaySteps: 1, decayFactor: 1 };
    const archEvery = strategyFailures(() => net.weightStepsPerArchStep);

    let lossSum = 0;
    let lossCount = 0;
    let checkpointKey = restoredFrom ?? '';
    const saveCheckpoint = async (): Promise<void> => {
      const key = keys.checkpoint(net.weightSteps);
      await store.put(key, await net.checkpoint());
      checkpointKey = key;
      await pruneCheckpoints(store, keys.checkpoints, key);
    };

    const meter = new ThroughputMeter();
    while (net.weightSteps < epochEnd) {
      if (ctx.cancellationSignal.aborted) break;
      const stepEpoch = Math.floor(net.weightSteps / stepsPerEpoch);
      const inEpoch = net.weightSteps - stepEpoch * stepsPerEpoch;
      const stepOrder = orderOf(stepEpoch);
      const picked = stepOrder.subarray(inEpoch * input.batchSize, Math.min((inEpoch + 1) * input.batchSize, stepOrder.length));
      const batch = makeBatch(data, data.train, Uint32Array.from(picked, (i) => split.train[i]), sized);
      const report = await net.weightStep(batch, learningRateAt(schedule, net.weightSteps));
      batch.xs.dispose();
      batch.ys.dispose();
      // The mean loss is this epoch's; steps trained again for an earlier one do not count.
      if (stepEpoch === input.epoch) {
        lossSum += report.loss;
        lossCount++;
      }
      if (stepEpoch >= input.warmupEpochs && net.weightSteps % archEvery === 0) {
        const start = (net.archSteps * input.batchSize) % split.validation.length;
        const v = Array.from({ length: Math.min(input.batchSize, split.validation.length) }, (_, k) => split.validation[valOrder[(start + k) % valOrder.length]]);
        const valBatch = makeBatch(data, data.train, Uint32Array.from(v), sized);
        try {
          await net.architectureStep(valBatch).catch(asRunFailure);
        } finally {
          valBatch.xs.dispose();
          valBatch.ys.dispose();
        }
      }
      meter.add(picked.length);
      const totalSteps = stepsPerEpoch * input.epochs;
      ctx.heartbeat({
        epoch: input.epoch,
        epochs: input.epochs,
        step: net.weightSteps,
        totalSteps,
        loss: report.loss,
        checkpointKey,
        imagesPerSecond: meter.imagesPerSecond,
        // Later epochs add architecture steps, so this is a lower bound while warming up.
        etaSeconds: meter.etaSeconds((totalSteps - net.weightSteps) * input.batchSize),
      } satisfies TrainProgress);
      if ((net.weightSteps - resumedFromStep) % input.checkpointEverySteps === 0 && net.weightSteps < epochEnd) await saveCheckpoint();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await saveCheckpoint();
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');

    const derived = net.derive();
    // After the checkpoint, so checkpoints never hold evaluation-only statistics.
    // Batch by batch with a heartbeat between: on a loaded machine the whole pass can outlast the
    // heartbeat timeout, and a healthy worker would be taken for dead and its epoch run again.
    const beat = async (): Promise<void> => {
      ctx.heartbeat({ epoch: input.epoch, epochs: input.epochs, step: net.weightSteps, totalSteps: stepsPerEpoch * input.epochs, checkpointKey } satisfies TrainProgress);
      await new Promise((resolve) => setImmediate(resolve));
    };
    const calibration = imageBatches(data, data.train, Uint32Array.from(order.subarray(0, CALIBRATION_EXAMPLES), (i) => split.train[i]), input.batchSize, sized);
    try {
      for (let b = 0; b < calibration.length; b++) {
        net.recalibrateBatchNorm([calibration[b]], derived.choices, b);
        await beat();
      }
    } finally {
      loadTf().dispose(calibration);
    }
    const evalCount = Math.min(EPOCH_EVAL_EXAMPLES, split.validation.length);
    let hits = 0;
    for (const chunk of sequentialChunks(evalCount, input.batchSize)) {
      const evalBatch = makeBatch(data, data.train, Uint32Array.from(chunk, (i) => split.validation[i]), sized);
      try {
        hits += Math.round(net.accuracy(evalBatch, derived.choices) * chunk.length);
      } finally {
        evalBatch.xs.dispose();
        evalBatch.ys.dispose();
      }
      await beat();
    }
    const validationAccuracy = hits / evalCount;
    const metrics: SupernetEpochMetrics = {
      epoch: input.epoch,
      steps: net.weightSteps,
      // Not NaN: JSON turns it into null, which readers of a number cannot format.
      meanLoss: lossCount ? lossSum / lossCount : undefined,
      meanEntropy: derived.entropy.reduce((a, b) => a + b, 0) / Math.max(1, derived.entropy.length),
      expectedLatencyMs: latency ? latency.fixedMs + net.expectedLatency().expected : undefined,
      validationAccuracy,
      blocks: derived.arch.blocks.map(encodeBlock),
      choices: derived.choices,
      resumedFromStep,
      checkpointKey,
    };
    if (input.epoch === input.epochs - 1) await putJson(store, keys.derived, derived.arch);
    // Written last: its presence means this epoch is complete and its checkpoint is stored.
    await putJson(store, keys.epoch(input.epoch), metrics);
    return metrics;
  } catch (err) {
    // Nothing non-finite was applied or checkpointed; a retry from that checkpoint would diverge again.
    throw divergenceFailure(err, `one-shot search, supernet epoch ${input.epoch}`);
  } finally {
    net.dispose();
  }
}
