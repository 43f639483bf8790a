/**
 * The compound-scaling stage's work. `scalingTrial` trains one grid point (the baseline scaled
 * at phi = 1) briefly, scores it on the held-out validation split and counts its MACs, parameters
 * and, with a target, latency; the result is stored under the point's own key, so a retried or
 * replayed trial returns the stored result instead of training again. A trial killed midway
 * resumes from its newest checkpoint; the checkpoints go once the result is stored. `scaledArchitectures` writes
 * the chosen coefficients' models for each phi.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import { parseArch } from '../engine/arch/catalog';
import type { ArchSpec, ArchSpecInput } from '../engine/arch/spec';
import type { ImageDataset } from '../engine/data/dataset';
import { countMacs } from '../engine/latency/macs';
import { buildArchModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';
import { efficientNetB0For, fitToData } from '../engine/scaling/baseline';
import { pointLabel } from '../core/scaling-grid';
import { runLayout } from '../core/run-layout';
import { compoundScale, type Coefficients } from '../engine/scaling/scale-arch';
import type { StageData } from '../dsl/dataset';
import { datasetFor, storeFor } from './context';
import { SHORT_RUN_BATCH_NORM, storedOnce, trainBriefly, type BriefTrainingResult } from './brief-training';
import type { RunContext, TargetRef } from '../core/refs';

/**
 * What gets scaled: an arch.json already in the artifact store (the search's result), an
 * architecture given inline (small: an ArchSpec is a few hundred bytes), or B0 fitted to the data.
 */
export type ScalingBaseline = { archKey: string } | { arch: ArchSpecInput } | { named: 'efficientnet-b0' };

export interface ScalingTrialInput extends RunContext {
  seed: number;
  dataset: StageData;
  baseline: ScalingBaseline;
  point: Coefficients;
  epochs: number;
  batchSize: number;
  learningRate: number;
  target?: TargetRef;
  pluginFiles: string[];
  /** Steps between the trial's checkpoints; absent: none, a retried trial starts over. */
  checkpointEverySteps?: number;
}

export interface ScalingTrialResult extends Coefficients, BriefTrainingResult {
  /** Input side the scaled model trained at. */
  resolution: number;
  archKey: string;
}

export interface ScaledArchitecturesInput extends RunContext {
  seed: number;
  dataset: StageData;
  baseline: ScalingBaseline;
  coefficients: Coefficients;
  phis: number[];
}

export interface ScaledArchitecture {
  phi: number;
  archKey: string;
  resolution: number;
  macs: number;
  params: number;
}

async function resolveBaseline(baseline: ScalingBaseline, data: ImageDataset, store: ArtifactStore): Promise<ArchSpec> {
  const shape = { channels: data.channels, numClasses: data.numClasses };
  if ('named' in baseline) return efficientNetB0For({ resolution: data.height, ...shape });
  if ('arch' in baseline) return fitToData(parseArch(baseline.arch, 'scaling baseline'), shape);
  if (!(await store.head(baseline.archKey))) {
    throw ApplicationFailure.nonRetryable(`scaling baseline ${baseline.archKey} is not in the artifact store; did the search stage finish?`, 'ArtifactNotFound');
  }
  return fitToData(parseArch(await getJson<unknown>(store, baseline.archKey), baseline.archKey), shape);
}

export async function scalingTrial(input: ScalingTrialInput): Promise<ScalingTrialResult> {
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).scaling;
  const key = keys.trial(pointLabel(input.point));
  const folder = input.checkpointEverySteps ? { prefix: keys.trialCheckpoints(pointLabel(input.point)), everySteps: input.checkpointEverySteps } : undefined;
  return storedOnce(store, key, folder, async (checkpoints): Promise<ScalingTrialResult> => {
    const data = datasetFor(input.dataset, input.seed);
    const base = await resolveBaseline(input.baseline, data, store);
    const arch: ArchSpec = {
      ...compoundScale(base, input.point, 1, `${base.name}-${pointLabel(input.point)}`),
      batchNorm: SHORT_RUN_BATCH_NORM,
    };
    const archKey = keys.trialArch(pointLabel(input.point));
    await putJson(store, archKey, arch);

    const trained = await trainBriefly(arch, data, {
      epochs: input.epochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      // One seed for every point: the same data order for all, so accuracy differences come from
      // the shape of the network rather than from which batches it happened to see.
      seed: input.seed,
      validationFraction: input.dataset.validationFraction,
      target: input.target,
      pluginFiles: input.pluginFiles,
      label: { point: pointLabel(input.point) },
      where: `scaling trial ${pointLabel(input.point)}`,
      checkpoints,
    });
    return { ...input.point, resolution: arch.resolution, ...trained, archKey };
  });
}

/** Writes the baseline scaled by the chosen coefficients at each phi, with its MACs and parameters. */
export async function scaledArchitectures(input: ScaledArchitecturesInput): Promise<ScaledArchitecture[]> {
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).scaling;
  const data = datasetFor(input.dataset, input.seed);
  const base = await resolveBaseline(input.baseline, data, store);
  const out: ScaledArchitecture[] = [];
  for (const phi of input.phis) {
    const arch = compoundScale(base, input.coefficients, phi, `${base.name}-phi${phi}`);
    const archKey = keys.phiArch(phi);
    // Deterministic from (baseline, coefficients, phi): rewriting on a retry stores the same bytes.
    await putJson(store, archKey, arch);
    const model = buildArchModel(arch, { zeroInit: true, inferenceOnly: true });
    try {
      out.push({ phi, archKey, resolution: arch.resolution, macs: countMacs(model), params: countParams(model).total });
    } finally {
      model.dispose();
    }
  }
  return out;
}
