/**
 * The evaluation stage: every trained model of the run (and the reference models, trained the
 * same way before this workflow starts) through one evaluation activity each, one after another,
 * then a summary. Sequential on purpose: latency measured while another model is being measured
 * on the same CPU would be a measurement of both.
 */
import { ApplicationFailure, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import type { EvaluatedModelBrief, evaluateModel, ModelToEvaluate, summarizeEvaluation } from '../activities/evaluate-model';
import type { DatasetRef } from '../core/stage-settings';
import { retryPolicy } from './policies';
import type { RunContext, TargetRef } from '../core/refs';

type EvaluationActivities = { evaluateModel: typeof evaluateModel; summarizeEvaluation: typeof summarizeEvaluation };

export interface EvaluationWorkflowInput extends RunContext {
  pipelineName: string;
  seed: number;
  dataset: DatasetRef;
  batchSize: number;
  warmupRuns: number;
  repeats: number;
  targets: TargetRef[];
  pluginFiles: string[];
  models: ModelToEvaluate[];
  /** How long an evaluation may stay silent before it is retried elsewhere; default 600. */
  heartbeatTimeoutSeconds?: number;
  /** Seconds between checkpoints of a model's accuracy pass; default 60. */
  checkpointEverySeconds?: number;
}

export interface EvaluationWorkflowResult {
  summaryKey: string;
  models: EvaluatedModelBrief[];
}

/** Which model the stage is at; the running activity's heartbeat says how far into it. */
export interface EvaluationStatus {
  index: number;
  count: number;
  model?: { id: string; label: string };
}

export const evaluationProgressQuery = defineQuery<EvaluationStatus>('evaluationProgress');

export async function evaluationWorkflow(input: EvaluationWorkflowInput): Promise<EvaluationWorkflowResult> {
  const { evaluateModel, summarizeEvaluation } = proxyActivities<EvaluationActivities>({
    // Generous: the heartbeat, not this, is what detects a dead worker. Accuracy on the test split of a
    // large model (B7) on a small CPU takes hours.
    startToCloseTimeout: '12h',
    // It beats once per test batch and per timed run; tfjs blocks the event loop for a whole batch,
    // which for a large model on a loaded CPU can take minutes (hence the stage's default of 10).
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds ?? 600}s`,
    retry: retryPolicy('short'),
  });
  if (input.models.length === 0) {
    throw ApplicationFailure.nonRetryable('nothing to evaluate: no earlier stage produced a trained model', 'PipelineValidationError');
  }
  const status: EvaluationStatus = { index: 0, count: input.models.length };
  setHandler(evaluationProgressQuery, () => status);

  const { models, ...common } = input;
  const results: EvaluatedModelBrief[] = [];
  for (const [i, model] of models.entries()) {
    status.index = i + 1;
    status.model = { id: model.id, label: model.label };
    results.push(
      await evaluateModel({
        runId: common.runId,
        artifactLocation: common.artifactLocation,
        seed: common.seed,
        dataset: common.dataset,
        model,
        targets: common.targets,
        pluginFiles: common.pluginFiles,
        batchSize: common.batchSize,
        warmupRuns: common.warmupRuns,
        repeats: common.repeats,
        index: i + 1,
        count: models.length,
        checkpointEverySeconds: common.checkpointEverySeconds,
      }),
    );
  }
  status.model = undefined;
  const summaryKey = await summarizeEvaluation({
    runId: input.runId,
    pipelineName: input.pipelineName,
    artifactLocation: input.artifactLocation,
    targets: input.targets.map(({ id, plugin }) => ({ id, plugin })),
    resultKeys: results.map((r) => r.resultKey),
  });
  return { summaryKey, models: results };
}

/** What a model is called in the summary and the printed table. */
export function labelOf(kind: string, filters?: number): Pick<ModelToEvaluate, 'label' | 'labelWithResolution'> {
  const efficientNet = /^efficientnet-(b\d)$/.exec(kind);
  if (efficientNet) return { label: `EfficientNet-${efficientNet[1].toUpperCase()}`, labelWithResolution: true };
  if (kind === 'mobilenet-v2') return { label: 'MobileNetV2', labelWithResolution: true };
  if (kind === 'small-cnn') return { label: `small CNN (${filters ?? 16} filters)` };
  // A scaled model's ref carries its phi; runs started before it did know it only by this label.
  const phi = /^phi-(\d+)$/.exec(kind);
  if (phi) return { label: `phi ${phi[1]}` };
  if (kind === 'baseline') return { label: 'searched baseline' };
  return { label: kind };
}
