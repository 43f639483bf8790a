/**
 * The plan compiler: from a validated pipeline (the file format, dsl/) to the input of the pipeline
 * workflow beside it, which stages run with which strategies and targets, and what this version
 * cannot run yet (refused before anything starts). Each stage's settings are mapped field by field
 * onto the types the workflows own, so the file format and the Temporal payloads can change apart;
 * fields are written in the order runs recorded them, and an optional one the file leaves unset is
 * left out here too, so one pipeline keeps making the same payload.
 *
 * Not workflow code: nothing in the bundle (workflows/index.ts) imports it. It runs where `nas run`
 * does, and it is pure: what only reading plugin module files tells comes in as `PluginModules`.
 */
import type { DatasetConfig } from '../dsl/dataset';
import type { LoadedPipeline } from '../dsl/load';
import type { BaselineSearchStage, CompoundScalingStage, ElasticTrainingStage, EvaluationStage, TrainStage } from '../dsl/stages';
import type { SearchStrategyPlugin } from '../plugins/api';
import type { TargetRef } from '../core/refs';
import { DEFAULT_CALIBRATION_NETS, type DatasetRef, type ElasticSettings, type StageDataRef, type TrainSettings } from '../core/stage-settings';
import type { BandTrialsConfig } from './band-trials';
import type {
  ElasticStageInput,
  EvaluationSettings,
  EvaluationStageInput,
  PipelineWorkflowInput,
  PluginProvenance,
  ScalingStageInput,
  SearchStageInput,
  StrategySetRef,
} from './pipeline';

/**
 * What the plan needs from the plugin module files, which takes reading and hashing them (infra/,
 * a layer above this one): `nas run` answers for its machine (cli/plan.ts), a test with fixed values.
 */
export interface PluginModules {
  /** The strategy set a multi-trial search with this strategy runs on; undefined for a built-in. */
  strategySet(loaded: LoadedPipeline, strategy: string): StrategySetRef | undefined;
  /** Every plugin the pipeline uses, as the run records it. */
  provenance(loaded: LoadedPipeline): PluginProvenance[];
}

/**
 * How compound scaling's grid points train without a search stage to copy: the file format gives
 * scaling no training settings of its own. Not schema defaults, because with a search stage the
 * search's own values (its defaults included) win.
 */
const SCALING_TRAINING_WITHOUT_SEARCH = { batchSize: 64, learningRate: 0.05, parallelTrials: 2 };

/** The search strategy a pipeline names, from its registry (built-in or declared under `plugins:`). */
function strategyOf(loaded: LoadedPipeline): SearchStrategyPlugin | undefined {
  const search = loaded.pipeline.stages.baselineSearch;
  return search && loaded.plugins.get('search-strategy', search.strategy.plugin);
}

function datasetRef(d: DatasetConfig): DatasetRef {
  const { resolution, validationFraction } = d;
  // One branch per kind of data set, so that a path the format requires stays required here.
  return d.name === 'fashion-mnist'
    ? { name: d.name, ...(d.path === undefined ? {} : { path: d.path }), resolution, validationFraction }
    : { name: d.name, path: d.path, resolution, validationFraction };
}

/** The data set cut to a stage's `trainSubset`, when it sets one. */
function stageDataRef(d: DatasetConfig, trainSubset: number | undefined): StageDataRef {
  return trainSubset === undefined ? datasetRef(d) : { ...datasetRef(d), trainSubset };
}

/** Every target a pipeline declares, as a run's input carries them (and `nas run` checks them before starting). */
export function declaredTargets(loaded: LoadedPipeline): TargetRef[] {
  return Object.keys(loaded.pipeline.hardwareTargets).map((id) => targetRef(loaded, id)!);
}

function targetRef(loaded: LoadedPipeline, id: string | undefined): TargetRef | undefined {
  if (!id) return undefined;
  const ref = loaded.pipeline.hardwareTargets[id];
  return { id, plugin: ref.plugin, config: ref.config };
}

function bandTrialsConfig(b: NonNullable<BaselineSearchStage['bandTrials']>, parallelTrials: number): BandTrialsConfig {
  const { halving } = b;
  return { trials: b.trials, epochs: b.epochs, band: b.band, ...(halving ? { halving: { eta: halving.eta, maxEpochs: halving.maxEpochs } } : {}), parallelTrials };
}

function searchInput(loaded: LoadedPipeline, runId: string, artifactLocation: string, pluginFiles: string[], modules: PluginModules): SearchStageInput | undefined {
  const { pipeline } = loaded;
  const search = pipeline.stages.baselineSearch;
  if (!search) return undefined;
  // The schema has filled in the only declared target where none is named.
  const target = targetRef(loaded, search.target);
  const common = {
    runId,
    artifactLocation,
    seed: pipeline.seed,
    dataset: stageDataRef(pipeline.dataset, search.trainSubset),
    space: pipeline.searchSpace,
    strategy: { plugin: search.strategy.plugin, config: search.strategy.config },
    epochs: search.epochs,
    batchSize: search.batchSize,
    learningRate: search.learningRate,
    pluginFiles,
  };
  // Not a schema default: validation refuses an absolute penalty without a target latency, which a default of 1 would hide.
  const referenceMs = search.targetLatencyMs ?? 1;
  if (strategyOf(loaded)?.mode === 'one-shot') {
    return {
      mode: 'one-shot',
      input: {
        ...common,
        warmupEpochs: search.warmupEpochs,
        // linear: the loss adds lambda * E[LAT] / LAT_ref with the table in ms, as the multi-trial
        // score does; absolute: lambda * |LAT / LAT_ref - 1|, the reference being the target.
        ...(search.latencyPenalty === 'absolute'
          ? { latencyWeight: search.latencyWeight, latencyTargetMs: search.targetLatencyMs }
          : { latencyWeight: search.latencyWeight / referenceMs }),
        target,
        // Only when not the default, so a pipeline that never mentions it plans the JSON it always did.
        ...(search.calibrationNets !== DEFAULT_CALIBRATION_NETS ? { calibrationNets: search.calibrationNets } : {}),
        checkpointEverySteps: search.checkpointEverySteps,
        heartbeatTimeoutSeconds: search.heartbeatTimeoutSeconds,
        bandTrials: search.bandTrials && bandTrialsConfig(search.bandTrials, search.parallelTrials),
      },
    };
  }
  // A user's strategy runs on its own queue, served by workers whose workflow code holds it.
  const strategySet = modules.strategySet(loaded, search.strategy.plugin);
  return {
    mode: 'multi-trial',
    ...(strategySet ? { strategySet } : {}),
    input: {
      ...common,
      parallelTrials: search.parallelTrials,
      checkpointEverySteps: search.checkpointEverySteps,
      heartbeatTimeoutSeconds: search.heartbeatTimeoutSeconds,
      latency: target && search.latencyWeight > 0 ? { target, weight: search.latencyWeight, referenceMs, penalty: search.latencyPenalty } : undefined,
    },
  };
}

function scalingInput(loaded: LoadedPipeline, runId: string, artifactLocation: string, pluginFiles: string[]): ScalingStageInput | undefined {
  const { pipeline } = loaded;
  const scaling = pipeline.stages.compoundScaling;
  if (!scaling) return undefined;
  // Scaling trains like the search's trials.
  const training = pipeline.stages.baselineSearch ?? SCALING_TRAINING_WITHOUT_SEARCH;
  return {
    runId,
    artifactLocation,
    seed: pipeline.seed,
    dataset: stageDataRef(pipeline.dataset, scaling.trainSubset),
    baseline: scaling.baseline,
    grid: {
      gridStep: scaling.gridStep,
      maxCoefficient: scaling.maxCoefficient,
      costRatio: scaling.costRatio,
      tolerance: scaling.tolerance,
      trialBudget: scaling.trialBudget,
    },
    phis: scaling.phis,
    objective: scaling.objective,
    target: targetRef(loaded, scaling.target),
    latency: scaling.latencyWeight !== undefined ? { weight: scaling.latencyWeight } : undefined,
    limits: scaling.limits && limitsOf(scaling.limits),
    epochs: scaling.epochs,
    batchSize: training.batchSize,
    learningRate: training.learningRate,
    parallelTrials: training.parallelTrials,
    pluginFiles,
    checkpointEverySteps: scaling.checkpointEverySteps,
    heartbeatTimeoutSeconds: scaling.heartbeatTimeoutSeconds,
  };
}

function limitsOf({ latencyMs, macs }: NonNullable<CompoundScalingStage['limits']>): NonNullable<ScalingStageInput['limits']> {
  return { ...(latencyMs === undefined ? {} : { latencyMs }), ...(macs === undefined ? {} : { macs }) };
}

function elasticSettings(e: ElasticTrainingStage): ElasticSettings {
  return {
    policy: e.policy,
    windowIterations: e.windowIterations,
    perWorkerBatch: e.perWorkerBatch,
    workers: { min: e.workers.min, max: e.workers.max },
    epochs: e.epochs,
    schedule: e.schedule,
    ...(e.trainSubset === undefined ? {} : { trainSubset: e.trainSubset }),
    learningRate: e.learningRate,
    momentum: e.momentum,
    weightDecay: e.weightDecay,
    labelSmoothing: e.labelSmoothing,
    ...(e.augment ? { augment: { padding: e.augment.padding, flip: e.augment.flip } } : {}),
    model: { kind: e.model.kind, filters: e.model.filters },
    stepTimeoutSeconds: e.stepTimeoutSeconds,
    checkpointEverySteps: e.checkpointEverySteps,
    heartbeatTimeoutSeconds: e.heartbeatTimeoutSeconds,
  };
}

function elasticInput(loaded: LoadedPipeline): ElasticStageInput | undefined {
  const elastic = loaded.pipeline.stages.elasticTraining;
  if (!elastic) return undefined;
  const { kind, filters } = elastic.model;
  return {
    config: elasticSettings(elastic),
    fallbackModel: kind === 'small-cnn' ? { kind, filters } : { kind },
    dataset: stageDataRef(loaded.pipeline.dataset, elastic.trainSubset),
  };
}

function trainSettings(t: TrainStage): TrainSettings {
  return {
    model: { kind: t.model.kind, filters: t.model.filters },
    epochs: t.epochs,
    batchSize: t.batchSize,
    learningRate: t.learningRate,
    optimizer: t.optimizer,
    momentum: t.momentum,
    checkpointEverySteps: t.checkpointEverySteps,
    heartbeatTimeoutSeconds: t.heartbeatTimeoutSeconds,
  };
}

function evaluationSettings(e: EvaluationStage): EvaluationSettings {
  return {
    targets: [...e.targets],
    repeats: e.repeats,
    warmupRuns: e.warmupRuns,
    batchSize: e.batchSize,
    referenceModels: [...e.referenceModels],
    heartbeatTimeoutSeconds: e.heartbeatTimeoutSeconds,
    checkpointEverySeconds: e.checkpointEverySeconds,
  };
}

function evaluationInput(loaded: LoadedPipeline): EvaluationStageInput | undefined {
  const { pipeline } = loaded;
  const evaluation = pipeline.stages.evaluation;
  if (!evaluation) return undefined;
  // No targets listed: every declared one.
  const ids = evaluation.targets.length > 0 ? evaluation.targets : Object.keys(pipeline.hardwareTargets);
  return { config: evaluationSettings(evaluation), targets: ids.map((id) => targetRef(loaded, id)!) };
}

/** The fields of a stage in the file format that its payload type lacks. */
type Unmapped<Dsl, Payload> = Exclude<keyof Dsl, keyof Payload>;
/** Compiles only while nothing is missing; the error names the field that is. */
type NoneMissing<Missing extends never> = Missing;
/**
 * Settings the workflows take whole fail to compile here while the file format has a field their
 * payload type lacks: a new setting is carried on to the workflows (or left out on purpose, here).
 * The search and scaling stages are split over several inputs, as the mapping above spells out.
 */
type StageSettingsMapped = [
  NoneMissing<Unmapped<TrainStage, TrainSettings>>,
  NoneMissing<Unmapped<ElasticTrainingStage, ElasticSettings>>,
  NoneMissing<Unmapped<EvaluationStage, EvaluationSettings>>,
  NoneMissing<Unmapped<DatasetConfig, DatasetRef>>,
];

export function planPipeline(loaded: LoadedPipeline, runId: string, artifactLocation: string, modules: PluginModules): PipelineWorkflowInput {
  const { pipeline } = loaded;
  const pluginFiles = [...new Set(loaded.plugins.list().map((e) => e.source).filter((s) => s !== 'built-in'))];
  return {
    runId,
    pipelineName: pipeline.name,
    seed: pipeline.seed,
    dataset: datasetRef(pipeline.dataset),
    artifactLocation,
    stages: {
      search: searchInput(loaded, runId, artifactLocation, pluginFiles, modules),
      scaling: scalingInput(loaded, runId, artifactLocation, pluginFiles),
      elastic: elasticInput(loaded),
      train: pipeline.stages.train && trainSettings(pipeline.stages.train),
      evaluation: evaluationInput(loaded),
    },
    targets: declaredTargets(loaded),
    pluginFiles,
    plugins: modules.provenance(loaded),
  };
}

/** Problems that validation cannot see because they depend on what this version implements. */
export function unrunnable(loaded: LoadedPipeline): string[] {
  const { pipeline } = loaded;
  const problems: string[] = [];
  // Refuse rather than silently skip: a user who declared a stage expects it to run.
  const runnable = new Set(['train', 'baselineSearch', 'compoundScaling', 'elasticTraining', 'evaluation']);
  const notYet = Object.entries(pipeline.stages).filter(([name, config]) => !runnable.has(name) && config !== undefined).map(([name]) => `stages.${name}`);
  if (notYet.length > 0) problems.push(`${notYet.join(', ')} cannot run yet; this version runs stages.${[...runnable].join(', stages.')}`);
  const { evaluation, elasticTraining, train } = pipeline.stages;
  if (evaluation && !elasticTraining && !train) {
    problems.push(
      'stages.evaluation: nothing trained to evaluate; the search and scaling stages make architectures, which stages.elasticTraining trains: add it (or stages.train)',
    );
  }
  const untrainable = (evaluation?.referenceModels ?? []).filter((m) => m !== 'small-cnn');
  if (evaluation && !elasticTraining && train && untrainable.length > 0) {
    problems.push(
      `stages.evaluation.referenceModels: ${untrainable.join(', ')} would be trained with the train stage's settings, but stages.train trains small CNNs only; add stages.elasticTraining (references are then trained with its settings) or list only small-cnn`,
    );
  }
  const search = pipeline.stages.baselineSearch;
  if (search?.bandTrials && strategyOf(loaded)?.mode !== 'one-shot') {
    problems.push(`stages.baselineSearch.bandTrials: band trials refine a one-shot search; "${search.strategy.plugin}" trains separate trials already: drop bandTrials`);
  }
  for (const [id, ref] of Object.entries(pipeline.hardwareTargets)) {
    if (!loaded.plugins.get('hardware-target', ref.plugin)?.measureModel) {
      problems.push(`hardwareTargets.${id}: target "${ref.plugin}" cannot measure whole models yet`);
    }
  }
  return problems;
}
