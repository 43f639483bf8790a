/**
 * From a validated pipeline to the pipeline workflow's input: which stages run, with which
 * strategies and targets, and what this version cannot run yet (refused before anything starts).
 */
import { stageData } from '../dsl/dataset';
import type { LoadedPipeline } from '../dsl/load';
import { strategySetOf } from '../infra/workflow-bundle';
import type { SearchStrategyPlugin } from '../plugins/api';
import type { ElasticStageInput, EvaluationStageInput, PipelineWorkflowInput, ScalingStageInput, SearchStageInput } from '../workflows/pipeline';
import { provenance, sourceOf } from './provenance';

/** The search strategy a pipeline names, from its registry (built-in or declared under `plugins:`). */
function strategyOf(loaded: LoadedPipeline): SearchStrategyPlugin | undefined {
  const search = loaded.pipeline.stages.baselineSearch;
  return search && loaded.plugins.get('search-strategy', search.strategy.plugin);
}


function searchInput(loaded: LoadedPipeline, runId: string, artifactLocation: string, pluginFiles: string[]): SearchStageInput | undefined {
  const { pipeline } = loaded;
  const search = pipeline.stages.baselineSearch;
  if (!search) return undefined;
  const ids = Object.keys(pipeline.hardwareTargets);
  // No target named: the only one declared, else latency plays no part.
  const targetId = search.target ?? (ids.length === 1 ? ids[0] : undefined);
  const target = targetRef(loaded, targetId);
  const common = {
    runId,
    artifactLocation,
    seed: pipeline.seed,
    dataset: stageData(pipeline.dataset, search.trainSubset),
    space: pipeline.searchSpace,
    strategy: search.strategy,
    epochs: search.epochs,
    batchSize: search.batchSize,
    learningRate: search.learningRate,
    pluginFiles,
  };
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
          : { latencyWeight: search.latencyWeight / (search.targetLatencyMs ?? 1) }),
        target,
        checkpointEverySteps: search.checkpointEverySteps,
        heartbeatTimeoutSeconds: search.heartbeatTimeoutSeconds,
        bandTrials: search.bandTrials && { ...search.bandTrials, parallelTrials: search.parallelTrials },
      },
    };
  }
  // A user's strategy runs on its own queue, served by workers whose workflow code holds it.
  const source = sourceOf(loaded, 'search-strategy', search.strategy.plugin);
  const strategySet = source && source !== 'built-in' ? strategySetOf([source]) : undefined;
  return {
    mode: 'multi-trial',
    ...(strategySet ? { strategySet } : {}),
    input: {
      ...common,
      parallelTrials: search.parallelTrials,
      checkpointEverySteps: search.checkpointEverySteps,
      heartbeatTimeoutSeconds: search.heartbeatTimeoutSeconds,
      latency: target && search.latencyWeight > 0 ? { target, weight: search.latencyWeight, referenceMs: search.targetLatencyMs ?? 1, penalty: search.latencyPenalty } : undefined,
    },
  };
}

function targetRef(loaded: LoadedPipeline, id: string | undefined) {
  if (!id) return undefined;
  const ref = loaded.pipeline.hardwareTargets[id];
  return { id, plugin: ref.plugin, config: ref.config };
}

function scalingInput(loaded: LoadedPipeline, runId: string, artifactLocation: string, pluginFiles: string[]): ScalingStageInput | undefined {
  const { pipeline } = loaded;
  const scaling = pipeline.stages.compoundScaling;
  if (!scaling) return undefined;
  // The DSL gives scaling no training knobs of its own: it trains like the search's trials.
  const search = pipeline.stages.baselineSearch;
  return {
    runId,
    artifactLocation,
    seed: pipeline.seed,
    dataset: stageData(pipeline.dataset, scaling.trainSubset),
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
    limits: scaling.limits,
    epochs: scaling.epochs,
    batchSize: search?.batchSize ?? 64,
    learningRate: search?.learningRate ?? 0.05,
    parallelTrials: search?.parallelTrials ?? 2,
    pluginFiles,
    checkpointEverySteps: scaling.checkpointEverySteps,
    heartbeatTimeoutSeconds: scaling.heartbeatTimeoutSeconds,
  };
}

function elasticInput(loaded: LoadedPipeline): ElasticStageInput | undefined {
  const elastic = loaded.pipeline.stages.elasticTraining;
  if (!elastic) return undefined;
  const { kind, filters } = elastic.model;
  return {
    config: elastic,
    fallbackModel: kind === 'small-cnn' ? { kind, filters } : { kind },
    dataset: stageData(loaded.pipeline.dataset, elastic.trainSubset),
  };
}

function evaluationInput(loaded: LoadedPipeline): EvaluationStageInput | undefined {
  const { pipeline } = loaded;
  const evaluation = pipeline.stages.evaluation;
  if (!evaluation) return undefined;
  // No targets listed: every declared one.
  const ids = evaluation.targets.length > 0 ? evaluation.targets : Object.keys(pipeline.hardwareTargets);
  return { config: evaluation, targets: ids.map((id) => targetRef(loaded, id)!) };
}

export function workflowInput(loaded: LoadedPipeline, runId: string, artifactLocation: string): PipelineWorkflowInput {
  const { pipeline } = loaded;
  const pluginFiles = [...new Set(loaded.plugins.list().map((e) => e.source).filter((s) => s !== 'built-in'))];
  return {
    runId,
    pipelineName: pipeline.name,
    seed: pipeline.seed,
    dataset: pipeline.dataset,
    artifactLocation,
    stages: {
      search: searchInput(loaded, runId, artifactLocation, pluginFiles),
      scaling: scalingInput(loaded, runId, artifactLocation, pluginFiles),
      elastic: elasticInput(loaded),
      train: pipeline.stages.train,
      evaluation: evaluationInput(loaded),
    },
    targets: Object.entries(pipeline.hardwareTargets).map(([id, ref]) => ({ id, plugin: ref.plugin, config: ref.config })),
    pluginFiles,
    plugins: provenance(loaded),
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

