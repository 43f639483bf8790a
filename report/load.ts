/**
 * Reads what a run's stages left in the artifact store. A stage that never ran (or has not got
 * that far) simply has no keys, so every part is optional; an object that is there but unreadable
 * is an error, because a report that silently drops a stage would mislead.
 */
import { getJson, type ArtifactStore } from '../artifacts';
import { readArtifactFile, readOptionalArtifactFile } from '../artifacts/read-file';
import {
  bandTrialsSummarySchema,
  evaluationSummarySchema,
  latencyCalibrationSchema,
  multiTrialSearchSummarySchema,
  pluginsFileSchema,
  scalingTableSchema,
  stepLogSchema,
  supernetEpochMetricsSchema,
  trialFileSchema,
  type StepLogEntry,
} from '../core/artifact-files';
import type { Pipeline } from '../dsl/pipeline';
import type { ElasticLog, RunArtifacts, SearchArtifacts } from './types';
import { runLayout } from '../core/run-layout';

/**
 * The resolved pipeline, as PipelineSchema produced it when the run was submitted. Not parsed again:
 * that schema is the file format users write, strict about unknown keys and changing with the DSL,
 * so a pipeline stored by an older version could fail it and take the whole report down with it.
 */
async function storedPipeline(store: ArtifactStore, key: string): Promise<Pipeline | undefined> {
  return (await store.head(key)) ? getJson<Pipeline>(store, key) : undefined;
}

/** The search's hardware target: the one named, else the only one declared (as the schema fills it in, dsl/pipeline.ts). */
export function searchTargetId(pipeline: Pipeline | undefined): string | undefined {
  if (!pipeline) return undefined;
  const named = pipeline.stages?.baselineSearch?.target;
  if (named) return named;
  const ids = Object.keys(pipeline.hardwareTargets ?? {});
  return ids.length === 1 ? ids[0] : undefined;
}

async function loadSearch(store: ArtifactStore, runId: string, pipeline: Pipeline | undefined): Promise<SearchArtifacts | undefined> {
  const keys = runLayout(runId);
  const epochKeys = (await store.list(keys.search.epochs)).filter((k) => k.endsWith('.json'));
  if (epochKeys.length > 0) {
    const epochs = await Promise.all(epochKeys.map((k) => readArtifactFile(store, k, supernetEpochMetricsSchema)));
    const [band, latencyCalibration] = await Promise.all([
      readOptionalArtifactFile(store, keys.search.bandTrials, bandTrialsSummarySchema),
      readOptionalArtifactFile(store, keys.search.latencyCalibration, latencyCalibrationSchema),
    ]);
    return { mode: 'one-shot', epochs: epochs.sort((a, b) => a.epoch - b.epoch), band, latencyCalibration };
  }
  const targetId = searchTargetId(pipeline);
  const summary = await readOptionalArtifactFile(store, keys.search.summary, multiTrialSearchSummarySchema);
  if (summary) {
    return { mode: 'multi-trial', trials: summary.trials, best: summary.best.trial, strategy: summary.strategy.plugin, targetId, finished: true, budgets: summary.budgets };
  }
  // A search still running: its finished trials are already stored one file each.
  const trialKeys = (await store.list(keys.search.trials)).filter((k) => k.endsWith('.json') && !k.endsWith('.arch.json'));
  if (trialKeys.length === 0) return undefined;
  const trials = await Promise.all(trialKeys.map((k) => readArtifactFile(store, k, trialFileSchema)));
  return {
    mode: 'multi-trial',
    trials: trials.sort((a, b) => a.trial - b.trial),
    strategy: pipeline?.stages?.baselineSearch?.strategy.plugin,
    targetId,
    finished: false,
  };
}

/**
 * Step logs per model. A segment is keyed by its first step and rewritten whole when a coordinator
 * resumes from the checkpoint before it, so later segments win for any step they repeat.
 */
async function loadElastic(store: ArtifactStore, runId: string): Promise<ElasticLog[]> {
  const prefix = runLayout(runId).elasticTrainings;
  const logKeys = (await store.list(prefix)).filter((k) => /\/log\/steps-\d+\.json$/.test(k));
  const byModel = new Map<string, Map<number, StepLogEntry>>();
  for (const key of logKeys.sort()) {
    const model = key.slice(prefix.length, key.indexOf('/log/', prefix.length));
    const steps = byModel.get(model) ?? new Map<number, StepLogEntry>();
    byModel.set(model, steps);
    for (const entry of await readArtifactFile(store, key, stepLogSchema)) steps.set(entry.step, entry);
  }
  return [...byModel.entries()]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([model, steps]) => ({ model, steps: [...steps.values()].sort((a, b) => a.step - b.step) }));
}

/** Loads every part of the report that the run has written so far. */
export async function loadRunArtifacts(store: ArtifactStore, runId: string): Promise<RunArtifacts> {
  const keys = runLayout(runId);
  const pipeline = await storedPipeline(store, keys.pipeline);
  const [plugins, search, scaling, elastic, evaluation] = await Promise.all([
    readOptionalArtifactFile(store, keys.plugins, pluginsFileSchema),
    loadSearch(store, runId, pipeline),
    readOptionalArtifactFile(store, keys.scaling.table, scalingTableSchema),
    loadElastic(store, runId),
    readOptionalArtifactFile(store, keys.evaluation.summary, evaluationSummarySchema),
  ]);
  return { runId, location: store.location, pipeline, ...(plugins ? { plugins } : {}), search, scaling, elastic, evaluation };
}

/** Whether the store holds anything at all for the run (to tell a wrong location from an empty run). */
export async function runExists(store: ArtifactStore, runId: string): Promise<boolean> {
  const keys = runLayout(runId);
  if (await store.head(keys.pipeline)) return true;
  return (await store.list(keys.root)).length > 0;
}
