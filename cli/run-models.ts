/**
 * The trained models a run left in its artifact store, with what is known of each: what `nas
 * export` ships and `nas compare` lines up. Every training stage writes `<stage>/metrics.json`
 * (its model's keys and test accuracy) once its model is stored; the evaluation stage, when the run
 * had one, adds parameters, MACs and latency per target.
 */
import { getJson, openArtifactStore, type ArtifactStore } from '../artifacts';
import { ArtifactFileError, readArtifactFile, readOptionalArtifactFile } from '../artifacts/read-file';
import { evaluationSummarySchema, pluginsFileSchema, stageMetricsSchema, type PluginProvenance, type StageMetrics, type TrainedModel } from '../core/artifact-files';
import type { Pipeline } from '../dsl/pipeline';
import { runLayout } from '../core/run-layout';
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from './errors';
import { embeddedDir, findRun, openRuns, readInput } from './runs';

export interface RunModel {
  /** The evaluation's id (`elastic-phi-1`, `train`), else the stage folder's path. */
  id: string;
  label: string;
  role: string;
  modelKey: string;
  modelWeightsKey: string;
  testAccuracy: number;
  perClassAccuracy?: number[];
  classNames?: string[];
  inputShape?: number[];
  params?: number;
  macs?: number;
  latency: Record<string, { medianMs: number; p90Ms: number; plugin?: string }>;
  /** What was trained: a built-in model, or the searched / scaled architecture's key and label. */
  model?: TrainedModel;
}

export interface RunStore {
  runId: string;
  store: ArtifactStore;
  location: string;
}

/**
 * The store a run used: `--artifacts` when given, else the location its Temporal input records,
 * else the work folder's artifacts (where a run without an `artifacts.location` stores).
 */
export async function locateRun(runId: string, options: { artifacts?: string; workDir?: string }): Promise<RunStore> {
  let location = options.artifacts;
  if (!location) {
    const runs = await openRuns(options.workDir).catch(() => undefined);
    if (runs) {
      try {
        location = (await readInput((await findRun(runs, runId)).handle, runId))?.artifactLocation;
      } catch {
        // Not in Temporal (another machine's run, a wiped database): the store may still have it.
      } finally {
        await runs.close();
      }
    }
  }
  location ??= `${embeddedDir(options.workDir)}/artifacts`;
  let store: ArtifactStore;
  try {
    store = openArtifactStore(location);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT_BAD_INPUT);
  }
  if ((await store.list(runLayout(runId).root)).length === 0) {
    throw new CliError(`no artifacts of run "${runId}" in ${store.location}${options.artifacts ? '' : ' (give the store the run used with --artifacts LOCATION)'}`);
  }
  return { runId, store, location: store.location };
}

/** A training stage's metrics file with the fields a model needs to be listed. */
type TrainedStage = StageMetrics & { modelKey: string; modelWeightsKey: string; testAccuracy: number; stage: string };

/** A stored file that is not what it should be ends the command in its one line, not a stack. */
async function oneLineIfBadFile<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ArtifactFileError) throw new CliError(err.message, EXIT_FAILURE);
    throw err;
  }
}

/** The run's models: the evaluated ones in the evaluation's order, then any other trained one. */
export function runModels(run: RunStore): Promise<RunModel[]> {
  return oneLineIfBadFile(() => modelsOf(run));
}

async function modelsOf({ store, runId }: RunStore): Promise<RunModel[]> {
  const keys = runLayout(runId);
  const evaluation = await readOptionalArtifactFile(store, keys.evaluation.summary, evaluationSummarySchema);
  const trained = new Map<string, TrainedStage>();
  for (const key of await store.list(keys.root)) {
    const stage = keys.trainingOfMetrics(key);
    if (stage === undefined) continue;
    const { modelKey, modelWeightsKey, testAccuracy, ...metrics } = await readArtifactFile(store, key, stageMetricsSchema);
    // The first stores' metrics lack the weights key: such a model cannot be shipped or lined up.
    if (modelKey && modelWeightsKey && testAccuracy !== undefined) trained.set(modelKey, { ...metrics, modelKey, modelWeightsKey, testAccuracy, stage });
  }
  const models: RunModel[] = [];
  for (const m of evaluation?.models ?? []) {
    const stage = trained.get(m.modelKey);
    trained.delete(m.modelKey);
    const plugins = Object.fromEntries((evaluation?.targets ?? []).map((t) => [t.id, t.plugin]));
    models.push({
      id: m.id,
      label: m.label,
      role: m.role,
      modelKey: m.modelKey,
      modelWeightsKey: m.modelWeightsKey,
      testAccuracy: m.testAccuracy,
      perClassAccuracy: m.perClassAccuracy,
      classNames: evaluation?.classNames,
      inputShape: stage?.inputShape,
      params: m.params,
      macs: m.macs,
      latency: Object.fromEntries(Object.entries(m.latency).map(([t, l]) => [t, { ...l, plugin: plugins[t] }])),
      model: stage?.model,
    });
  }
  for (const s of trained.values()) {
    models.push({
      id: s.stage.replace(/\//g, '-'),
      label: s.model?.kind === 'arch' ? s.model.label : (s.model?.kind ?? s.stage),
      role: 'trained',
      modelKey: s.modelKey,
      modelWeightsKey: s.modelWeightsKey,
      testAccuracy: s.testAccuracy,
      perClassAccuracy: s.perClassAccuracy,
      classNames: s.classNames,
      inputShape: s.inputShape,
      latency: {},
      model: s.model,
    });
  }
  return models;
}

/** The resolved pipeline and plugin list a run stored when it started (absent in stores from before they were). */
export function runProvenance({ store, runId }: RunStore): Promise<{ pipeline?: Pipeline; plugins?: PluginProvenance[] }> {
  const keys = runLayout(runId);
  return oneLineIfBadFile(async () => {
    const [pipeline, plugins] = await Promise.all([
      // As report/load.ts says: the stored pipeline is PipelineSchema's output, not parsed again.
      store.head(keys.pipeline).then((h) => (h ? getJson<Pipeline>(store, keys.pipeline) : undefined)),
      readOptionalArtifactFile(store, keys.plugins, pluginsFileSchema),
    ]);
    return { pipeline, plugins };
  });
}
