/**
 * Whole-model latency of an in-memory model on a hardware target, through the target's plugin.
 * Targets load models from disk the way their runtime would, so the model is saved to a private
 * temporary folder first. Used by the search and scaling trials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { registryWithPluginFiles } from '../plugins/load';

export interface TrialTarget {
  id: string;
  plugin: string;
  config: unknown;
}

export async function measureModelOnTarget(model: LayersModel, inputShape: number[], target: TrialTarget, pluginFiles: string[]): Promise<number> {
  const plugin = registryWithPluginFiles(pluginFiles).get('hardware-target', target.plugin);
  if (!plugin?.measureModel) {
    throw ApplicationFailure.nonRetryable(`hardware target "${target.plugin}" cannot measure whole models`, 'PluginLoadError');
  }
  const dir = mkdtempSync(join(tmpdir(), 'nas-model-'));
  try {
    await model.save(`file://${dir}`);
    const ctx = Context.current();
    const measured = await plugin.measureModel(dir, inputShape, {
      config: plugin.configSchema.parse(target.config),
      heartbeat: (d) => ctx.heartbeat(d),
      signal: ctx.cancellationSignal,
    });
    return measured.medianMs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
