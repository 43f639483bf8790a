/**
 * The pipeline: one child workflow per stage, in order. It only orchestrates: inputs and results
 * are small (keys and numbers), and every byte of work happens in activities.
 */
import { ApplicationFailure, defineQuery, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ModelToEvaluate } from '../activities/evaluate-model';
import type { DatasetRef, ElasticSettings, StageDataRef, TrainSettings } from '../core/stage-settings';
import { elasticTrainingWorkflow, type ElasticModelRef, type ElasticTrainingResult } from './elastic-training';
import { elasticQueueOf, strategyQueueOf } from './task-queues';
import { multiTrialSearchWorkflow, type MultiTrialSearchInput, type MultiTrialSearchResult } from './multi-trial-search';
import { oneShotSearchWorkflow, resultArchKey, type OneShotSearchInput, type OneShotSearchResult } from './one-shot-search';
import { compoundScalingWorkflow, type CompoundScalingInput, type CompoundScalingResult } from './compound-scaling';
import { evaluationWorkflow, labelOf, type EvaluationWorkflowResult } from './evaluation';

/** Scaling's baseline is either named, or the search's result, known only once the search ends. */
export type ScalingStageInput = Omit<CompoundScalingInput, 'baseline'> & { baseline: 'search' | 'efficientnet-b0' };

/**
 * The user strategy modules a multi-trial search needs, by content hash: the search runs on that
 * set's own queue (infra/workflow-bundle.ts says why). Paths are where the run's submitter had them.
 */
export interface StrategySetRef {
  id: string;
  modules: { file: string; sha256: string; strategies: string[] }[];
}

/** The baseline search runs one of two workflows, by the strategy's mode. */
export type SearchStageInput =
  | { mode: 'multi-trial'; input: MultiTrialSearchInput; strategySet?: StrategySetRef }
  | { mode: 'one-shot'; input: OneShotSearchInput };

/** A plugin a run uses, as it was when the run started (`nas status`, the report, `nas resume`'s check); `plugins.json`'s schema is core/artifact-files.ts's. */
export type { PluginProvenance };
export type SearchStageResult = { mode: 'multi-trial'; result: MultiTrialSearchResult } | { mode: 'one-shot'; result: OneShotSearchResult };
import { trainStageWorkflow, type TrainStageResult } from './train-stage';
import { runLayout } from '../core/run-layout';
import type { ModelRole, TargetRef } from '../core/refs';
import type { PluginProvenance } from '../core/artifact-files';

/** Elastic training's settings, and the model it trains when no earlier stage made one. */
export interface ElasticStageInput {
  config: ElasticSettings;
  fallbackModel: ElasticModelRef;
  /** The data set cut to the stage's `trainSubset`; absent in runs started before it existed. */
  dataset?: StageDataRef;
}

/** The known models evaluation trains and measures alongside the run's own. */
export type ReferenceModelName =
  | 'small-cnn'
  | 'efficientnet-b0'
  | 'efficientnet-b1'
  | 'efficientnet-b2'
  | 'efficientnet-b3'
  | 'efficientnet-b4'
  | 'efficientnet-b5'
  | 'efficientnet-b6'
  | 'efficientnet-b7';

/** How evaluation measures, and which reference models it trains first. */
export interface EvaluationSettings {
  /** Target ids as the pipeline listed them (empty: all), kept because runs recorded them; the stage measures on `EvaluationStageInput.targets`. */
  targets: string[];
  repeats: number;
  warmupRuns: number;
  batchSize: number;
  referenceModels: ReferenceModelName[];
  heartbeatTimeoutSeconds: number;
  checkpointEverySeconds: number;
}

/** Evaluation's settings and the targets it measures on (its own list, else every declared one). */
export interface EvaluationStageInput {
  config: EvaluationSettings;
  targets: TargetRef[];
}

/** The small CNN a `small-cnn` reference model is: the DSL's default width. */
const REFERENCE_SMALL_CNN_FILTERS = 16;

export interface PipelineWorkflowInput {
  runId: string;
  pipelineName: string;
  seed: number;
  dataset: DatasetRef;
  artifactLocation: string;
  stages: { search?: SearchStageInput; scaling?: ScalingStageInput; elastic?: ElasticStageInput; train?: TrainSettings; evaluation?: EvaluationStageInput };
  targets: TargetRef[];
  pluginFiles: string[];
  /** Absent in runs started before it was recorded. */
  plugins?: PluginProvenance[];
}

export interface StageOutcome {
  stage: string;
  workflowId: string;
  seconds: number;
}

export interface PipelineWorkflowResult {
  runId: string;
  stages: StageOutcome[];
  search?: SearchStageResult;
  scaling?: CompoundScalingResult;
  /** One elastic training per model: each scaled model, else the searched baseline, else the fallback. */
  elastic?: ElasticTrainingResult[];
  train?: TrainStageResult;
  /** The summary's key and one small row per model (per-class numbers stay in the summary). */
  evaluation?: EvaluationWorkflowResult;
}

export interface PipelineStatus {
  runId: string;
  /** The stage running now, or undefined between stages and after the end. */
  current?: { stage: string; workflowId: string };
  completed: StageOutcome[];
}

export const pipelineStatusQuery = defineQuery<PipelineStatus>('status');

export function stageWorkflowId(runId: string, stage: string): string {
  return `${runId}.${stage}`;
}

export async function pipelineWorkflow(input: PipelineWorkflowInput): Promise<PipelineWorkflowResult> {
  const status: PipelineStatus = { runId: input.runId, completed: [] };
  setHandler(pipelineStatusQuery, () => status);
  const result: PipelineWorkflowResult = { runId: input.runId, stages: status.completed };

  /** Runs one stage as a child workflow and records how long it took. */
  async function stage<T>(name: string, run: (workflowId: string) => Promise<T>): Promise<T> {
    const workflowId = stageWorkflowId(input.runId, name);
    status.current = { stage: name, workflowId };
    // Date.now() is deterministic in workflow code: it is the time of the current workflow task.
    const started = Date.now();
    const value = await run(workflowId);
    status.completed.push({ stage: name, workflowId, seconds: (Date.now() - started) / 1000 });
    status.current = undefined;
    return value;
  }
  const taskQueue = workflowInfo().taskQueue;
  /** What every stage's work is keyed and seeded by. */
  const runContext = { runId: input.runId, artifactLocation: input.artifactLocation, seed: input.seed, dataset: input.dataset };
  /** One model trained elastically, as its own child workflow; `folder` is its place under the run's artifacts. */
  const trainElastically = (workflowId: string, folder: string, config: ElasticSettings, model: ElasticModelRef) =>
    executeChild(elasticTrainingWorkflow, {
      workflowId,
      taskQueue,
      args: [{ ...runContext, dataset: input.stages.elastic?.dataset ?? input.dataset, stage: folder, elastic: config, model, participantQueue: elasticQueueOf(taskQueue) }],
    });

  if (input.stages.search) {
    const search = input.stages.search;
    result.search = await stage('search', async (workflowId): Promise<SearchStageResult> =>
      search.mode === 'multi-trial'
        ? {
            mode: search.mode,
            result: await executeChild(
              multiTrialSearchWorkflow,
              search.strategySet
                ? { workflowId, taskQueue: strategyQueueOf(taskQueue, search.strategySet.id), args: [{ ...search.input, activityQueue: taskQueue }] }
                : { workflowId, taskQueue, args: [search.input] },
            ),
          }
        : { mode: search.mode, result: await executeChild(oneShotSearchWorkflow, { workflowId, taskQueue, args: [search.input] }) },
    );
  }
  if (input.stages.scaling) {
    const { baseline, ...scaling } = input.stages.scaling;
    const searched = result.search;
    let resolved: CompoundScalingInput['baseline'];
    if (baseline === 'efficientnet-b0') resolved = { named: 'efficientnet-b0' };
    else if (searched?.mode === 'multi-trial') resolved = { archKey: searched.result.best.archKey };
    else if (searched?.mode === 'one-shot') resolved = { archKey: resultArchKey(searched.result) };
    else throw ApplicationFailure.nonRetryable('compound scaling of the search result needs a baseline search stage', 'PipelineValidationError');
    result.scaling = await stage('scaling', (workflowId) =>
      executeChild(compoundScalingWorkflow, { workflowId, taskQueue, args: [{ ...scaling, baseline: resolved }] }),
    );
  }
  if (input.stages.elastic) {
    const { config, fallbackModel } = input.stages.elastic;
    const models = modelsToTrain(result, fallbackModel);
    result.elastic = [];
    for (const { label, model } of models) {
      result.elastic.push(
        await stage(`elastic-${label}`, (workflowId) => trainElastically(workflowId, runLayout(input.runId).elasticStage(label), config, model)),
      );
    }
  }
  if (input.stages.train) {
    const train = input.stages.train;
    result.train = await stage('train', (workflowId) =>
      executeChild(trainStageWorkflow, {
        workflowId,
        taskQueue,
        args: [
          {
            ...runContext,
            stage: 'train',
            train,
            targets: input.targets,
            pluginFiles: input.pluginFiles,
          },
        ],
      }),
    );
  }
  if (input.stages.evaluation) {
    const evaluation = input.stages.evaluation;
    // References are trained as the pipeline's own models were, each its own stage (and wall time).
    const references: ModelToEvaluate[] = [];
    for (const name of evaluation.config.referenceModels) {
      references.push(await stage(`reference-${name}`, (workflowId) => trainReference(name, workflowId)));
    }
    const models = [...modelsToEvaluate(result, input.stages.train), ...references];
    result.evaluation = await stage('evaluation', (workflowId) =>
      executeChild(evaluationWorkflow, {
        workflowId,
        taskQueue,
        args: [
          {
            ...runContext,
            pipelineName: input.pipelineName,
            batchSize: evaluation.config.batchSize,
            warmupRuns: evaluation.config.warmupRuns,
            repeats: evaluation.config.repeats,
            heartbeatTimeoutSeconds: evaluation.config.heartbeatTimeoutSeconds,
            checkpointEverySeconds: evaluation.config.checkpointEverySeconds,
            targets: evaluation.targets,
            pluginFiles: input.pluginFiles,
            models,
          },
        ],
      }),
    );
  }
  return result;

  /** A reference model trained with elastic training's settings, else (small CNN only) the train stage's. */
  async function trainReference(name: ReferenceModelName, workflowId: string): Promise<ModelToEvaluate> {
    const id = `reference-${name}`;
    const naming = labelOf(name, REFERENCE_SMALL_CNN_FILTERS);
    const elastic = input.stages.elastic;
    if (elastic) {
      const model: ElasticModelRef = name === 'small-cnn' ? { kind: name, filters: REFERENCE_SMALL_CNN_FILTERS } : { kind: name };
      const trained = await trainElastically(workflowId, `reference/${name}`, elastic.config, model);
      return { id, role: 'reference', ...naming, modelKey: trained.modelKey, modelWeightsKey: trained.modelWeightsKey };
    }
    const train = input.stages.train;
    if (train && name === 'small-cnn') {
      const trained = await executeChild(trainStageWorkflow, {
        workflowId,
        taskQueue,
        args: [
          {
            ...runContext,
            stage: `reference/${name}`,
            train: { ...train, model: { kind: 'small-cnn', filters: REFERENCE_SMALL_CNN_FILTERS } },
            // Evaluation measures it with the others.
            targets: [],
            pluginFiles: input.pluginFiles,
          },
        ],
      });
      return { id, role: 'reference', ...naming, modelKey: trained.modelKey, modelWeightsKey: trained.modelWeightsKey };
    }
    throw ApplicationFailure.nonRetryable(
      `reference model ${name} needs stages.elasticTraining to be trained like the pipeline's models` + (train ? ' (the train stage trains small CNNs only)' : ''),
      'PipelineValidationError',
    );
  }
}

/** The trained models of the earlier stages; search and scaling made architectures, which elastic training trained. */
function modelsToEvaluate(result: PipelineWorkflowResult, train: TrainSettings | undefined): ModelToEvaluate[] {
  const models: ModelToEvaluate[] = [];
  for (const e of result.elastic ?? []) {
    const label = e.model.kind === 'arch' ? e.model.label : e.model.kind;
    const naming = e.model.kind === 'arch' && e.model.phi !== undefined ? { label: `phi ${e.model.phi}` } : labelOf(label, e.model.kind === 'small-cnn' ? e.model.filters : undefined);
    models.push({ id: `elastic-${label}`, role: roleOf(e.model), ...naming, modelKey: e.modelKey, modelWeightsKey: e.modelWeightsKey });
  }
  if (result.train) {
    models.push({ id: 'train', role: 'trained', ...labelOf('small-cnn', train?.model.filters), modelKey: result.train.modelKey, modelWeightsKey: result.train.modelWeightsKey });
  }
  return models;
}

function roleOf(model: ElasticModelRef): ModelRole {
  if (model.kind !== 'arch') return 'trained';
  // Runs started before the ref carried its role named scaled models phi-<n>, and nothing else so.
  return model.role ?? (model.label.startsWith('phi-') ? 'scaled' : 'searched');
}

/** What elastic training trains: the scaled models, else the searched baseline, else the fallback. */
function modelsToTrain(result: PipelineWorkflowResult, fallback: ElasticModelRef): { label: string; model: ElasticModelRef }[] {
  if (result.scaling) {
    return result.scaling.scaled.map((s) => ({ label: `phi-${s.phi}`, model: { kind: 'arch', archKey: s.archKey, label: `phi-${s.phi}`, role: 'scaled', phi: s.phi } }));
  }
  const search = result.search;
  if (search) {
    const archKey = search.mode === 'multi-trial' ? search.result.best.archKey : resultArchKey(search.result);
    return [{ label: 'baseline', model: { kind: 'arch', archKey, label: 'baseline', role: 'searched' } }];
  }
  return [{ label: fallback.kind, model: fallback }];
}
