/**
 * Measures a stored model on one hardware target through the target's plugin: the train stage's
 * latency of the model it exported. Stored under `resultKey`, so a retry after success measures
 * nothing again.
 */
import { getJson, putJson } from '../artifacts';
import type { LatencyMeasurement } from '../plugins/api';
import { storeFor } from './context';
import { activityHooks, measureModelOn, resolveTarget, withStoredModel } from './target-measure';

export interface MeasureLatencyInput {
  artifactLocation: string;
  modelJsonKey: string;
  modelWeightsKey: string;
  /** Where the measurement is stored; also what makes a retry after success a no-op. */
  resultKey: string;
  targetId: string;
  plugin: string;
  config: unknown;
  /** Absolute paths of the user plugin modules the pipeline declared. */
  pluginFiles: string[];
  /** One example's shape, e.g. [28, 28, 1]. */
  inputShape: number[];
}

export interface MeasureLatencyResult extends LatencyMeasurement {
  targetId: string;
  plugin: string;
}

export async function measureLatency(input: MeasureLatencyInput): Promise<MeasureLatencyResult> {
  const store = storeFor(input.artifactLocation);
  if (await store.head(input.resultKey)) return getJson<MeasureLatencyResult>(store, input.resultKey);

  const target = resolveTarget({ id: input.targetId, plugin: input.plugin, config: input.config }, input.pluginFiles, 'measureModel');
  const measured = await withStoredModel(store, { json: input.modelJsonKey, weights: input.modelWeightsKey }, (dir) =>
    measureModelOn(target, dir, input.inputShape, activityHooks(store)),
  );
  const result: MeasureLatencyResult = { ...measured, targetId: input.targetId, plugin: input.plugin };
  await putJson(store, input.resultKey, result);
  return result;
}
