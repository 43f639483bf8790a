/**
 * One epoch of ProxylessNAS as a Temporal activity. The epoch itself (step order, learning rate,
 * architecture steps, derive and scoring) is engine/supernet/trainer.ts; this keeps what makes it
 * durable: the supernet checkpoint (all path weights, strategy state, optimizer slots, counters)
 * goes to the artifact store every N steps, a retried attempt resumes from the newest one that
 * verifies, heartbeats carry the newest checkpoint's key, and an epoch's metrics, written last,
 * mark it done. The architecture update rule is the one-shot strategy plugin's, resolved by name on
 * this worker like a hardware target; its config's defaults are the plugin schema's alone.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import { runLayout } from '../core/run-layout';
import type { SupernetEpochMetrics } from '../core/artifact-files';
import type { ImageDataset } from '../engine/data/dataset';
import { splitIndices } from '../engine/data/split';
import { encodeBlock } from '../engine/arch/block-string';
import { ThroughputMeter } from '../engine/train/throughput-meter';
import { OneShotStrategyError, Supernet, SupernetCheckpointError } from '../engine/supernet';
import { SUPERNET_BATCH_NORM, SupernetTrainer } from '../engine/supernet/trainer';
import type { StageData } from '../dsl/dataset';
import { searchResolution, type SearchSpace } from '../dsl/search-space';
import type { OneShotStrategyPlugin } from '../plugins/api';
import { registryWithPluginFiles } from '../plugins/load';
import { pruneCheckpoints, restoreNewestCheckpoint } from './checkpoints';
import { divergenceFailure } from './failures';
import { datasetFor, storeFor } from './context';
import type { TrainProgress } from './train-classifier';
import { searchOps } from './latency-table';
import { loadSearchPrices } from './latency-model';

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
  /** The strategy plugin's config; the supernet parses it again with the plugin's schema, which alone holds the defaults. */
  strategyConfig: Record<string, unknown>;
  /** Artifact key of the target's per-op latency table, or undefined when latency plays no part. */
  latencyTableKey?: string;
  /** The table's calibration on its target (activities/latency-model.ts): where its predictor beats the plain sum, the supernet prices by it. */
  latencyCalibrationKey?: string;
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

/** `runs/<run>/search/epochs/epoch-NNNN.json`, also the activity's result; its schema is core/artifact-files.ts's. */
export type { SupernetEpochMetrics };

export interface SearchLatency {
  /** (decision, option) -> ms. */
  matrix: number[][];
  /** The ops every architecture has (stem, head): what a latency target adds to the mixed ops'. */
  fixedMs: number;
}

/** The stored table as the supernet reads it, at the search's resolution. */
async function searchLatencyOf(store: ArtifactStore, input: SupernetEpochInput, data: ImageDataset): Promise<SearchLatency | undefined> {
  if (!input.latencyTableKey) return undefined;
  const { matrix, fixedMs } = await loadSearchPrices(store, input.latencyTableKey, searchOps(input.space, input.dataset, data), input.latencyCalibrationKey);
  return { matrix, fixedMs };
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
    bn: SUPERNET_BATCH_NORM,
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
  const keys = runLayout(input.runId).search;
  if (await store.head(keys.epoch(input.epoch))) return getJson<SupernetEpochMetrics>(store, keys.epoch(input.epoch));

  const data = datasetFor(input.dataset, input.seed);
  const split = splitIndices(data.train.count, input.dataset.validationFraction, input.seed);
  if (split.validation.length === 0) {
    throw ApplicationFailure.nonRetryable('the search needs a validation split: set dataset.validationFraction above 0', 'PipelineValidationError');
  }
  const latency = await searchLatencyOf(store, input, data);
  const net = strategyFailures(() => buildSupernet(input, data, latency));
  try {
    const trainer = new SupernetTrainer(net, data, split, { seed: input.seed, epochs: input.epochs, warmupEpochs: input.warmupEpochs, batchSize: input.batchSize, learningRate: input.learningRate });
    let restoredFrom: string | undefined;
    try {
      restoredFrom = await restoreNewestCheckpoint(store, keys.checkpoints, (bytes) => net.restore(bytes));
    } catch (err) {
      if (err instanceof SupernetCheckpointError) throw ApplicationFailure.nonRetryable(err.message, err.name);
      throw err;
    }
    const { start: epochStart, end: epochEnd } = trainer.epochSteps(input.epoch);
    if (net.weightSteps > epochEnd) {
      throw ApplicationFailure.nonRetryable(
        `epoch ${input.epoch} ends at supernet step ${epochEnd}, but the newest checkpoint (${restoredFrom}) is already at step ${net.weightSteps}: it belongs to another search`,
        'CheckpointMismatchError',
      );
    }
    // A checkpoint from before this epoch (the one at its start was corrupt, or none survived):
    // the trainer trains the steps in between again, and this epoch starts where it always did.
    if (net.weightSteps < epochStart) {
      log.warn(`epoch ${input.epoch} starts at supernet step ${epochStart}; the newest usable checkpoint (${restoredFrom ?? 'none'}) is at step ${net.weightSteps}, so steps ${net.weightSteps}-${epochStart} are trained again`);
    }

    let checkpointKey = restoredFrom ?? '';
    const progress = (extra: Partial<TrainProgress> = {}): TrainProgress => ({
      epoch: input.epoch,
      epochs: input.epochs,
      step: net.weightSteps,
      totalSteps: trainer.totalSteps,
      ...extra,
      checkpointKey,
    });
    const meter = new ThroughputMeter();
    const result = await trainer
      .trainEpoch(input.epoch, {
        signal: ctx.cancellationSignal,
        checkpoint: {
          everySteps: input.checkpointEverySteps,
          save: async () => {
            const key = keys.checkpoint(net.weightSteps);
            await store.put(key, await net.checkpoint());
            checkpointKey = key;
            await pruneCheckpoints(store, keys.checkpoints, key);
          },
        },
        onStep: ({ step, loss, images }) => {
          meter.add(images);
          ctx.heartbeat(
            progress({
              loss,
              imagesPerSecond: meter.imagesPerSecond,
              // Later epochs add architecture steps, so this is a lower bound while warming up.
              etaSeconds: meter.etaSeconds((trainer.totalSteps - step) * input.batchSize),
            }),
          );
        },
        // The recalibration and validation pass beat too: on a loaded machine they can outlast the
        // heartbeat timeout, and a healthy worker would be taken for dead and its epoch run again.
        onEvaluationBatch: () => ctx.heartbeat(progress()),
      })
      .catch(asRunFailure);

    const { derived } = result;
    if (derived.budget && !derived.budget.withinBudget) {
      log.warn(
        `no net of the space meets the latency target by the search's latency model: the derived net is the fastest one (${(derived.budget.costMs + (latency?.fixedMs ?? 0)).toFixed(2)} ms against ${input.latencyTargetMs} ms)`,
      );
    }
    const metrics = {
      epoch: input.epoch,
      steps: net.weightSteps,
      meanLoss: result.meanLoss,
      meanEntropy: result.meanEntropy,
      expectedLatencyMs: latency ? latency.fixedMs + net.expectedLatency().expected : undefined,
      derivedLatencyMs: latency ? latency.fixedMs + net.latencyOf(derived.choices) : undefined,
      validationAccuracy: result.validationAccuracy,
      blocks: derived.arch.blocks.map(encodeBlock),
      choices: derived.choices,
      resumedFromStep: result.resumedFromStep,
      checkpointKey,
    } satisfies SupernetEpochMetrics;
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
