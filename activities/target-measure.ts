/**
 * Measuring on a hardware target, for every activity that does (the train stage's latency, trial
 * latencies, evaluation, latency tables): resolving the target's plugin from the registry with the
 * run's plugin files, parsing its config with the plugin's schema, and measuring a model or an op
 * on it. What a retry cannot mend (a plugin this worker lacks, a target that cannot measure what
 * is asked, a config its schema rejects) fails the attempt for good, with the target named.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { ArtifactStore } from '../artifacts';
import type { TargetRef } from '../core/refs';
import type { HardwareTargetPlugin, LatencyMeasurement, OpSignature, TargetContext } from '../plugins/api';
import { registryWithPluginFiles } from '../plugins/load';

/** What a target may be asked to measure: a whole saved model, or one op of a latency table. */
export type Capability = 'measureModel' | 'measureOp';

const CANNOT: Record<Capability, string> = {
  measureModel: 'cannot measure whole models',
  measureOp: 'cannot measure single ops (no measureOp), so it cannot build a latency table',
};

/** A target ready to measure: its plugin and the config as the plugin's schema parsed it (defaults filled). */
export interface ResolvedTarget {
  /** The target's id in the pipeline's `hardwareTargets`. */
  id: string;
  plugin: HardwareTargetPlugin;
  /** What the plugin measures with, and (for tables) part of what names the cached table. */
  config: unknown;
}

/** The stage's untimed and timed inference counts, for targets whose config has those fields. */
export interface StageTiming {
  warmupRuns: number;
  repeats: number;
}

/** What a measurement reports to and reads from the activity running it. */
export type MeasureHooks = Omit<TargetContext<unknown>, 'config'>;

/** Fails the attempt for good unless `plugin` can measure what `can` names. */
export function assertCapable(plugin: HardwareTargetPlugin, can: Capability): void {
  if (!plugin[can]) throw ApplicationFailure.nonRetryable(`hardware target "${plugin.name}" ${CANNOT[can]}`, 'PluginLoadError');
}

/**
 * Resolves each target against one registry of the built-ins and `pluginFiles`. With `timing`, the
 * stage's `warmupRuns` and `repeats` override a target's own where its config has those fields
 * (node-cpu and wasm do); analytic and table targets have nothing to repeat.
 */
export function resolveTargets(refs: readonly TargetRef[], pluginFiles: readonly string[], can: Capability, timing?: StageTiming): ResolvedTarget[] {
  const registry = registryWithPluginFiles(pluginFiles);
  return refs.map((ref) => {
    const plugin = registry.get('hardware-target', ref.plugin);
    if (!plugin) throw ApplicationFailure.nonRetryable(`hardware target plugin "${ref.plugin}" is not registered on this worker`, 'PluginLoadError');
    assertCapable(plugin, can);
    const parsed = plugin.configSchema.safeParse(timing ? withTiming(plugin.configSchema, ref.config, timing) : ref.config);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ');
      throw ApplicationFailure.nonRetryable(`hardware target "${ref.id}" (${ref.plugin}): invalid config: ${problems}`, 'InvalidConfig');
    }
    return { id: ref.id, plugin, config: parsed.data };
  });
}

export function resolveTarget(ref: TargetRef, pluginFiles: readonly string[], can: Capability, timing?: StageTiming): ResolvedTarget {
  return resolveTargets([ref], pluginFiles, can, timing)[0];
}

function withTiming(schema: unknown, config: unknown, timing: StageTiming): unknown {
  // Only zod objects have a shape; a target with another schema keeps its config as given.
  const shape = (schema as { shape?: Record<string, unknown> }).shape;
  const base = typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : {};
  if (!shape) return base;
  return {
    ...base,
    ...('warmupRuns' in shape ? { warmupRuns: timing.warmupRuns } : {}),
    ...('repeats' in shape ? { repeats: timing.repeats } : {}),
  };
}

/** The running activity's heartbeat and cancellation, and its store for what a config names by key (a `lut` table). */
export function activityHooks(store?: ArtifactStore): MeasureHooks {
  const ctx = Context.current();
  return {
    heartbeat: (details) => ctx.heartbeat(details),
    signal: ctx.cancellationSignal,
    ...(store ? { readArtifact: (key: string) => store.get(key) } : {}),
  };
}

/** Times (or prices) the tfjs model in `modelDir` on the target. */
export async function measureModelOn(target: Pick<ResolvedTarget, 'plugin' | 'config'>, modelDir: string, inputShape: number[], hooks: MeasureHooks): Promise<LatencyMeasurement> {
  assertCapable(target.plugin, 'measureModel');
  return target.plugin.measureModel!(modelDir, inputShape, { config: target.config, ...hooks });
}

export async function measureOpOn(target: Pick<ResolvedTarget, 'plugin' | 'config'>, op: OpSignature, hooks: MeasureHooks): Promise<LatencyMeasurement> {
  assertCapable(target.plugin, 'measureOp');
  return target.plugin.measureOp!(op, { config: target.config, ...hooks });
}

/** The keys of a stored export: its model.json and its one weights file. */
export interface StoredModel {
  json: string;
  weights: string;
}

/** Copies a stored export into `dir`, the weights under their own file name, which model.json refers to. */
export async function copyStoredModel(store: ArtifactStore, model: StoredModel, dir: string): Promise<void> {
  const weightsFile = model.weights.slice(model.weights.lastIndexOf('/') + 1);
  writeFileSync(join(dir, 'model.json'), await store.get(model.json));
  writeFileSync(join(dir, weightsFile), await store.get(model.weights));
}

/** Targets load models from disk the way their runtime would: `fn` gets a private temporary folder, removed afterwards. */
async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fn` on a folder holding a copy of the stored export. */
export function withStoredModel<T>(store: ArtifactStore, model: StoredModel, fn: (dir: string) => Promise<T>): Promise<T> {
  return inTempDir('nas-model-', async (dir) => {
    await copyStoredModel(store, model, dir);
    return fn(dir);
  });
}

/** Runs `fn` on a folder holding `model` saved as tfjs saves it. */
export function withSavedModel<T>(model: LayersModel, fn: (dir: string) => Promise<T>): Promise<T> {
  return inTempDir('nas-model-', async (dir) => {
    await model.save(`file://${dir}`);
    return fn(dir);
  });
}
