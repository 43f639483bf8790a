/**
 * Inputs and fake activity results for the workflow tests. Inputs come from pipeline text through
 * the DSL and the plan compiler, as `nas run` makes them; results are the smallest values of the
 * real shapes, derived from the input so that a test can tell which call made which result.
 */
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { BandCandidates } from '../../activities/band-candidates';
import type { TrainClassifierResult } from '../../activities/train-classifier';
import type { TrainTrialInput, TrialMetrics } from '../../activities/train-trial';
import type { ScalingTrialInput, ScalingTrialResult } from '../../activities/scaling-trial';
import type { SupernetEpochInput, SupernetEpochMetrics } from '../../activities/supernet-epoch';
import type { ElasticTrainingInput, ElasticTrainingResult } from '../../activities/elastic-training';
import type { EvaluateModelInput, EvaluatedModelBrief } from '../../activities/evaluate-model';
import { workflowInput } from '../../cli/plan';
import { runLayout } from '../../core/run-layout';
import { parsePipelineText } from '../../dsl/load';
import { builtinRegistry } from '../../plugins/registry';
import type { PipelineWorkflowInput } from '../../workflows/pipeline';
import type { ActivityInput, Stubs } from '../support/workflow-env';

/** Never opened: every activity is a stub. */
export const ARTIFACTS = '/nonexistent/workflow-tests';

let runs = 0;
/** A run id of its own per test, so that the stage workflow ids (`<run>.<stage>`) never meet. */
export function newRunId(what: string): string {
  return `${what}-${++runs}`;
}

/** A pipeline around `stages` (YAML lines under `stages:`), planned as `nas run` plans it. */
export function planned(stages: string, runId: string, targets = '{ proxy: { plugin: macs }, cpu: { plugin: node-cpu } }'): PipelineWorkflowInput {
  const text = `version: 1
name: workflow-test
seed: 7
dataset: { name: fashion-mnist }
searchSpace:
  stem: { channels: 8, stride: 1 }
  stages:
    - { channels: 8, repeats: 1, stride: 2, kernels: [3, 5], expansions: [3, 6] }
    - { channels: 16, repeats: 2, stride: 2, kernels: [3, 5], expansions: [3, 6], skip: true }
  head: { channels: 32, dropout: 0 }
hardwareTargets: ${targets}
stages:
${stages}
`;
  return workflowInput({ file: 'workflow-test.yaml', pipeline: parsePipelineText(text, 'workflow-test.yaml'), plugins: builtinRegistry(), userPlugins: [] }, runId, ARTIFACTS);
}

/** A trial's metrics: the accuracy as given, keys named by the trial. */
export function trialMetrics(input: TrainTrialInput, validationAccuracy: number, latencyMs?: number): TrialMetrics {
  return {
    trial: input.trial,
    choices: input.choices,
    archKey: `${runLayout(input.runId).search.trials}trial-${input.trial}.arch.json`,
    blocks: input.choices.map((c) => `b${c}`),
    validationAccuracy,
    params: 1000 + input.trial,
    macs: 2000 + input.trial,
    ...(latencyMs === undefined ? {} : { latencyMs }),
    trainSeconds: 1 + input.epochs,
    fitSeconds: input.epochs,
  };
}

/** A scaling grid point's result; `archKey` names the point. */
export function scalingResult(input: ScalingTrialInput, m: { validationAccuracy: number; macs?: number; latencyMs?: number }): ScalingTrialResult {
  const { alpha, beta, gamma } = input.point;
  return {
    alpha,
    beta,
    gamma,
    resolution: Math.round(28 * gamma),
    archKey: runLayout(input.runId).scaling.trialArch(`${alpha}_${beta}_${gamma}`),
    blocks: ['b'],
    validationAccuracy: m.validationAccuracy,
    params: 10_000,
    macs: m.macs ?? 100_000,
    ...(m.latencyMs === undefined ? {} : { latencyMs: m.latencyMs }),
    trainSeconds: 1,
  };
}

/** One supernet epoch; the argmax net's choices follow the epoch so each epoch's result is its own. */
export function epochMetrics(recorded: ActivityInput<'supernetEpoch'>, choices = [1, 0, 1, 0, 1, 0]): SupernetEpochMetrics {
  const input = recorded as SupernetEpochInput;
  return {
    epoch: input.epoch,
    steps: 10,
    meanLoss: 1 / (input.epoch + 1),
    meanEntropy: 0.5,
    ...(input.latencyTableKey ? { expectedLatencyMs: 5 + input.epoch } : {}),
    validationAccuracy: 0.5 + input.epoch / 100,
    blocks: choices.map((c) => `b${c}`),
    choices,
    resumedFromStep: 0,
    checkpointKey: `${runLayout(input.runId).search.checkpoints}step-${input.epoch}.ckpt`,
  };
}

export function classifierResult(input: ActivityInput<'trainClassifier'>): TrainClassifierResult {
  return {
    modelKey: runLayout(input.runId).training(input.stage).modelJson,
    modelWeightsKey: runLayout(input.runId).training(input.stage).modelWeights,
    inputShape: [28, 28, 1],
    metricsKey: runLayout(input.runId).training(input.stage).metrics,
    testAccuracy: 0.8,
    testLoss: 0.5,
    classes: 10,
    steps: 100,
    resumedFromStep: 0,
    attempt: 1,
    trainSeconds: 1,
  };
}

export function elasticResult(recorded: ActivityInput<'elasticCoordinator'>): ElasticTrainingResult {
  const input = recorded as ElasticTrainingInput;
  return {
    model: input.model,
    modelKey: runLayout(input.runId).elastic(input.stage).modelJson,
    modelWeightsKey: runLayout(input.runId).elastic(input.stage).modelWeights,
    inputShape: [28, 28, 1],
    metricsKey: runLayout(input.runId).elastic(input.stage).metrics,
    logPrefix: runLayout(input.runId).elastic(input.stage).logPrefix,
    testAccuracy: 0.85,
    testLoss: 0.4,
    classes: 10,
    steps: 100,
    epochs: input.elastic.epochs,
    workersSeen: 1,
    resumedFromStep: 0,
    attempt: 1,
    trainSeconds: 1,
  };
}

export function evaluated(input: EvaluateModelInput): EvaluatedModelBrief {
  return {
    id: input.model.id,
    role: input.model.role,
    label: input.model.label,
    params: 1000,
    macs: 2000,
    testAccuracy: 0.8,
    latency: Object.fromEntries(input.targets.map((t) => [t.id, { medianMs: 1, p90Ms: 2 }])),
    resultKey: runLayout(input.runId).evaluation.model(input.model.id),
    classes: 10,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The phi models of scaledArchitectures, keyed as the activity keys them. */
export function scaledModels(input: { runId: string; phis: number[] }) {
  return input.phis.map((phi) => ({ phi, archKey: runLayout(input.runId).scaling.phiArch(phi), resolution: 28 + phi, macs: phi * 1e6, params: phi * 1e4 }));
}

/** Band candidates: the derived net (10 ms) and `count` others, each 0.1 ms faster than the last. */
export function bandCandidates(input: ActivityInput<'drawBandCandidates'>): BandCandidates {
  return {
    reference: { choices: input.reference, blocks: ['derived'], tableMs: 10 },
    candidates: Array.from({ length: input.count }, (_, i) => ({ choices: [i + 2, ...input.reference.slice(1)], blocks: [`band-${i}`], tableMs: (99 - i) / 10 })),
    draws: input.count * 3,
  };
}

/** A trial's accuracy follows its choices, so every architecture has its own and the best is known. */
export const accuracyOfChoices = (choices: number[]) => choices.reduce((s, c, i) => s + c * (i + 1), 0) / 100;

/** A stub for every activity a pipeline can reach, each returning its fake; `overrides` replace some. */
export function everyStub(overrides: Stubs = {}): Stubs {
  return {
    trainClassifier: async (i) => classifierResult(i),
    measureLatency: async (i) => ({ targetId: i.targetId, plugin: i.plugin, medianMs: 1, repeats: 3 }),
    trainTrial: async (t) => trialMetrics(t, accuracyOfChoices(t.choices)),
    writeJson: async ({ key }) => key,
    buildLatencyTable: async (t) => `${runLayout(String(t.runId)).root}latency-table.json`,
    calibrateLatencyModel: async () => undefined,
    supernetEpoch: async (e) => epochMetrics(e),
    drawBandCandidates: async (d) => bandCandidates(d),
    scalingTrial: async (t) => scalingResult(t, { validationAccuracy: 0.5 + t.point.alpha / 10 }),
    scaledArchitectures: async (i) => scaledModels(i),
    elasticCoordinator: async (i) => elasticResult(i),
    elasticParticipant: async () => ({ steps: 0, samples: 0 }),
    evaluateModel: async (i) => evaluated(i),
    summarizeEvaluation: async (i) => runLayout(i.runId).evaluation.summary,
    ...overrides,
  };
}

/** A workflow's failure: the error the client sees, the chain of causes under it, and the last. */
export async function failureOf(running: Promise<unknown>): Promise<{ error: WorkflowFailedError; chain: Error[]; root: ApplicationFailure }> {
  const error = await running.then(
    () => {
      throw new Error('the workflow completed; a failure was expected');
    },
    (e: unknown) => e,
  );
  if (!(error instanceof WorkflowFailedError)) throw error;
  const chain: Error[] = [];
  for (let cause: Error | undefined = error.cause; cause; cause = (cause as { cause?: Error }).cause) chain.push(cause);
  const root = chain[chain.length - 1];
  if (!(root instanceof ApplicationFailure)) throw new Error(`the failure's root is ${String(root)}, not an ApplicationFailure`);
  return { error, chain, root };
}
