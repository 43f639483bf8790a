/**
 * One trial of a multi-trial search: build the candidate the strategy proposed, train it briefly on
 * the training split, score it on the held-out validation split (the test split stays unseen), and
 * measure its latency on the search's hardware target. The result is stored under the trial's own
 * key, so a retried or replayed trial returns the stored result instead of a second, different one.
 * A trial killed midway resumes from its newest checkpoint; the checkpoints go once the result is stored.
 */
import { putJson } from '../artifacts';
import { archFromChoices } from '../engine/arch/from-choices';
import type { StageData } from '../dsl/dataset';
import { searchResolution, type SearchSpace } from '../dsl/search-space';
import { datasetFor, storeFor } from './context';
import { SHORT_RUN_BATCH_NORM, storedOnce, trainBriefly } from './brief-training';
import { runLayout } from '../core/run-layout';
import type { RunContext, TargetRef } from '../core/refs';
import type { TrialFile } from '../core/artifact-files';


export interface TrainTrialInput extends RunContext {
  seed: number;
  dataset: StageData;
  space: SearchSpace;
  trial: number;
  choices: number[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  target?: TargetRef;
  pluginFiles: string[];
  /** Steps between the trial's checkpoints; absent: none, a retried trial starts over. */
  checkpointEverySteps?: number;
}

/** `runs/<run>/search/trials/trial-NNNNN.json`, also the activity's result; its schema is core/artifact-files.ts's. */
export type TrialMetrics = TrialFile;

export async function trainTrial(input: TrainTrialInput): Promise<TrialMetrics> {
  const store = storeFor(input.artifactLocation);
  const keys = runLayout(input.runId).search;
  const key = keys.trial(input.trial);
  const folder = input.checkpointEverySteps ? { prefix: keys.trialCheckpoints(input.trial), everySteps: input.checkpointEverySteps } : undefined;
  return storedOnce(store, key, folder, async (checkpoints): Promise<TrialMetrics> => {
    const data = datasetFor(input.dataset, input.seed);
    const arch = {
      ...archFromChoices(input.space, input.choices, {
        resolution: searchResolution(input.space, input.dataset),
        inputChannels: data.channels,
        numClasses: data.numClasses,
        name: `trial-${input.trial}`,
      }),
      batchNorm: SHORT_RUN_BATCH_NORM,
    };
    const archKey = keys.trialArch(input.trial);
    await putJson(store, archKey, arch);

    const trained = await trainBriefly(arch, data, {
      epochs: input.epochs,
      batchSize: input.batchSize,
      learningRate: input.learningRate,
      // Each trial gets its own stream of initialisation and data order, derived from the run's seed.
      seed: input.seed * 1_000_003 + input.trial,
      validationFraction: input.dataset.validationFraction,
      target: input.target,
      pluginFiles: input.pluginFiles,
      label: { trial: input.trial },
      where: `search trial ${input.trial}`,
      checkpoints,
    });
    return { trial: input.trial, choices: input.choices, ...trained, archKey } satisfies TrialFile;
  });
}
