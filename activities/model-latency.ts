/**
 * Whole-model latency of an in-memory model on a hardware target, through the target's plugin:
 * the latency a search or scaling trial reports for the network it just trained.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { TargetRef } from '../core/refs';
import { activityHooks, measureModelOn, resolveTarget, withSavedModel } from './target-measure';

export async function measureModelOnTarget(model: LayersModel, inputShape: number[], target: TargetRef, pluginFiles: string[]): Promise<number> {
  const resolved = resolveTarget(target, pluginFiles, 'measureModel');
  const measured = await withSavedModel(model, (dir) => measureModelOn(resolved, dir, inputShape, activityHooks()));
  return measured.medianMs;
}
