/**
 * Measures a stored model on one hardware target through the target's plugin. The model is copied
 * from the artifact store into a private temporary folder, because targets load models from disk
 * the way their runtime (tfjs in Node, a browser, a phone) would.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { getJson, putJson } from '../artifacts';
import type { LatencyMeasurement } from '../plugins/api';
import { registryWithPluginFiles } from '../plugins/load';
import { storeFor } from './context';

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
  const ctx = Context.current();
  const store = storeFor(input.artifactLocation);
  if (await store.head(input.resultKey)) return getJson<MeasureLatencyResult>(store, input.resultKey);

  const registry = registryWithPluginFiles(input.pluginFiles);
  const target = registry.get('hardware-target', input.plugin);
  if (!target) {
    throw ApplicationFailure.nonRetryable(`hardware target plugin "${input.plugin}" is not registered on this worker`, 'PluginLoadError');
  }
  if (!target.measureModel) {
    throw ApplicationFailure.nonRetryable(`hardware target "${input.plugin}" cannot measure whole models`, 'PluginLoadError');
  }
  const config = target.configSchema.parse(input.config);

  const dir = mkdtempSync(join(tmpdir(), 'nas-model-'));
  try {
    const weightsFile = input.modelWeightsKey.slice(input.modelWeightsKey.lastIndexOf('/') + 1);
    writeFileSync(join(dir, 'model.json'), await store.get(input.modelJsonKey));
    writeFileSync(join(dir, weightsFile), await store.get(input.modelWeightsKey));
    const measured = await target.measureModel(dir, input.inputShape, {
      config,
      heartbeat: (details) => ctx.heartbeat(details),
      signal: ctx.cancellationSignal,
    });
    const result: MeasureLatencyResult = { ...measured, targetId: input.targetId, plugin: input.plugin };
    await putJson(store, input.resultKey, result);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
