/**
 * The pipeline: one child workflow per stage, in order. It only orchestrates: inputs and results
 * are small (keys and numbers), and every byte of work happens in activities.
 */
import { defineQuery, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DatasetConfig, TrainStage } from '../dsl/pipeline';
import { trainStageWorkflow, type HardwareTargetRef, type TrainStageResult } from './train-stage';

export interface PipelineWorkflowInput {
  runId: string;
  pipelineName: string;
  seed: number;
  dataset: DatasetConfig;
  artifactLocation: string;
  stages: { train?: TrainStage };
  targets: HardwareTargetRef[];
  pluginFiles: string[];
}

export interface StageOutcome {
  stage: string;
  workflowId: string;
  seconds: number;
}

export interface PipelineWorkflowResult {
  runId: string;
  stages: StageOutcome[];
  train?: TrainStageResult;
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

  if (input.stages.train) {
    const workflowId = stageWorkflowId(input.runId, 'train');
    status.current = { stage: 'train', workflowId };
    const started = Date.now();
    result.train = await executeChild(trainStageWorkflow, {
      workflowId,
      taskQueue: workflowInfo().taskQueue,
      args: [
        {
          runId: input.runId,
          stage: 'train',
          artifactLocation: input.artifactLocation,
          seed: input.seed,
          dataset: input.dataset,
          train: input.stages.train,
          targets: input.targets,
          pluginFiles: input.pluginFiles,
        },
      ],
    });
    // Date.now() is deterministic in workflow code: it is the time of the current workflow task.
    status.completed.push({ stage: 'train', workflowId, seconds: (Date.now() - started) / 1000 });
    status.current = undefined;
  }
  return result;
}
