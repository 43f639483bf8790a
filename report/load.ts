/**
 * Reads what a run's stages left in the artifact store. A stage that never ran (or has not got
 * that far) simply has no keys, so every part is optional; an object that is there but unreadable
 * is an error, because a report that silently drops a stage would mislead.
 */
import { getJson, type ArtifactStore } from '../artifacts';
import type { Pipeline } from '../dsl/pipeline';
import type { PluginProvenance } from '../workflows/pipeline';
import type {
  BandTrialsSummary,
  ElasticLog,
  EvaluationSummary,
  MultiTrialSummary,
  RunArtifacts,
  ScalingTable,
  SearchArtifacts,
  StepLogEntry,
  SupernetEpochMetrics,
  TrialRecord,
} from './types';
import { runLayout } from '../core/run-layout';

async function optionalJson<T>(store: ArtifactStore, key: string): Promise<T | undefined> {
  if (!(await store.head(key))) return undefined;
  return getJson<T>(store, key);
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
    const epochs = await Promise.all(epochKeys.map((k) => getJson<SupernetEpochMetrics>(store, k)));
    const band = await optionalJson<BandTrialsSummary>(store, keys.search.bandTrials);
    return { mode: 'one-shot', epochs: epochs.sort((a, b) => a.epoch - b.epoch), band };
  }
  const targetId = searchTargetId(pipeline);
  const summary = await optionalJson<MultiTrialSummary>(store, keys.search.summary);
  if (summary) {
    return { mode: 'multi-trial', trials: summary.trials, best: summary.best.trial, strategy: summary.strategy.plugin, targetId, finished: true, budgets: summary.budgets };
  }
  // A search still running: its finished trials are already stored one file each.
  const trialKeys = (await store.list(keys.search.trials)).filter((k) => k.endsWith('.json') && !k.endsWith('.arch.json'));
  if (trialKeys.length === 0) return undefined;
  const trials = await Promise.all(trialKeys.map((k) => getJson<TrialRecord>(store, k)));
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
    for (const entry of await getJson<StepLogEntry[]>(store, key)) steps.set(entry.step, entry);
  }
  return [...byModel.entries()]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([model, steps]) => ({ model, steps: [...steps.values()].sort((a, b) => a.step - b.step) }));
}

/** Loads every part of the report that the run has written so far. */
export async function loadRunArtifacts(store: ArtifactStore, runId: string): Promise<RunArtifacts> {
  const keys = runLayout(runId);
  const pipeline = await optionalJson<Pipeline>(store, keys.pipeline);
  const [plugins, search, scaling, elastic, evaluation] = await Promise.all([
    optionalJson<PluginProvenance[]>(store, keys.plugins),
    loadSearch(store, runId, pipeline),
    optionalJson<ScalingTable>(store, keys.scaling.table),
    loadElastic(store, runId),
    optionalJson<EvaluationSummary>(store, keys.evaluation.summary),
  ]);
  return { runId, location: store.location, pipeline, ...(plugins ? { plugins } : {}), search, scaling, elastic, evaluation };
}

/** Whether the store holds anything at all for the run (to tell a wrong location from an empty run). */
export async function runExists(store: ArtifactStore, runId: string): Promise<boolean> {
  const keys = runLayout(runId);
  if (await store.head(keys.pipeline)) return true;
  return (await store.list(keys.root)).length > 0;
}
