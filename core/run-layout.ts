/**
 * Every artifact key of a run, spelled once. Writers (activities, workflows, the CLI) and readers
 * (the report, `nas export`, the fault suite) take their keys from here, so a stage's folder cannot
 * drift between the code that fills it and the code that reads it. Pure: workflows use it too.
 *
 * The strings are part of every stored run and of recorded workflow histories (some keys travel
 * as activity inputs): changing one breaks the runs and replays that hold it.
 */

const CHECKPOINT_SUFFIX = '.ckpt';

/** A checkpoint's key: the step zero-padded, so that keys sort by step. */
export function checkpointKey(prefix: string, step: number): string {
  return `${prefix}step-${String(step).padStart(9, '0')}${CHECKPOINT_SUFFIX}`;
}

/** The step a checkpoint key names; undefined for anything that is not such a key. */
export function checkpointStep(key: unknown): number | undefined {
  if (typeof key !== 'string') return undefined;
  const m = /step-(\d+)\.ckpt$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

export function isCheckpointKey(key: string): boolean {
  return key.endsWith(CHECKPOINT_SUFFIX);
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** The keys of one training stage (`train`, an elastic training, a brief training's folder). */
export function trainingLayout(base: string) {
  return {
    base,
    checkpoints: `${base}/checkpoints/`,
    checkpoint: (step: number) => checkpointKey(`${base}/checkpoints/`, step),
    modelJson: `${base}/model/model.json`,
    modelWeights: `${base}/model/weights.bin`,
    metrics: `${base}/metrics.json`,
    /** A hardware target's latency of the stage's model. */
    latency: (targetId: string) => `${base}/latency/${targetId}.json`,
  };
}

/** An elastic training's keys: a training stage's, plus the coordinator record and the step log. */
export function elasticLayout(base: string) {
  return {
    ...trainingLayout(base),
    /** Where workers find the coordinator: its URL and attempt, no secret. */
    coordinator: `${base}/coordinator.json`,
    logPrefix: `${base}/log/`,
    /** Steps from `from` up to the next checkpoint; rewritten whole if a crash rolls them back. */
    log: (from: number) => `${base}/log/steps-${pad(from, 9)}.json`,
    coverage: (epoch: number) => `${base}/coverage/epoch-${pad(epoch, 4)}.json`,
  };
}

export function runLayout(runId: string) {
  const run = `runs/${runId}`;
  const search = `${run}/search`;
  const trial = (n: number) => `${search}/trials/trial-${pad(n, 5)}`;
  const scaling = `${run}/scaling`;
  const evaluation = `${run}/evaluation`;
  return {
    /** The run's folder, with its trailing slash: a prefix to list. */
    root: `${run}/`,
    /** The resolved pipeline, written when the run is submitted. */
    pipeline: `${run}/pipeline.json`,
    /** Every plugin the run uses, with version and module hash. */
    plugins: `${run}/plugins.json`,
    /** `nas report`'s copy of the report. */
    report: { prefix: `${run}/report/`, html: `${run}/report/report.html`, json: `${run}/report/report.json` },
    /** A stage that trains one model (`train`, or an elastic training's stage id). */
    training: (stage: string) => trainingLayout(`${run}/${stage}`),
    /** The stage that holds any training's metrics file `key`; undefined for other keys. */
    trainingOfMetrics: (key: string): string | undefined => (key.startsWith(`${run}/`) && key.endsWith('/metrics.json') ? key.slice(run.length + 1, -'/metrics.json'.length) : undefined),
    elastic: (stage: string) => elasticLayout(`${run}/${stage}`),
    /** The stage id of the elastic training of the model labelled `label` (`elastic/phi-1`). */
    elasticStage: (label: string) => `elastic/${label}`,
    /** Every elastic training's folder lies under this prefix. */
    elasticTrainings: `${run}/elastic/`,
    search: {
      base: search,
      /** The supernet's checkpoints (one-shot). */
      checkpoints: `${search}/supernet/`,
      checkpoint: (step: number) => checkpointKey(`${search}/supernet/`, step),
      epochs: `${search}/epochs/`,
      epoch: (epoch: number) => `${search}/epochs/epoch-${pad(epoch, 4)}.json`,
      derived: `${search}/derived.arch.json`,
      /** A multi-trial search's summary. */
      summary: `${search}/summary.json`,
      bandTrials: `${search}/band-trials.json`,
      /** The search table's calibration on its target (a copy of the shared file, with the target's id). */
      latencyCalibration: `${search}/latency-calibration.json`,
      trials: `${search}/trials/`,
      trial: (n: number) => `${trial(n)}.json`,
      trialArch: (n: number) => `${trial(n)}.arch.json`,
      trialCheckpoints: (n: number) => `${trial(n)}/checkpoints/`,
    },
    scaling: {
      base: scaling,
      table: `${scaling}/table.json`,
      /** A grid point's files, by its label (`a1.2-b1.1-g1.15`). */
      trial: (point: string) => `${scaling}/trials/${point}.json`,
      trialArch: (point: string) => `${scaling}/trials/${point}.arch.json`,
      trialCheckpoints: (point: string) => `${scaling}/trials/${point}/checkpoints/`,
      phiArch: (phi: number) => `${scaling}/phi-${phi}.arch.json`,
    },
    evaluation: {
      base: evaluation,
      model: (id: string) => `${evaluation}/models/${id}.json`,
      checkpoint: (id: string) => `${evaluation}/checkpoints/${id}.json`,
      summary: `${evaluation}/summary.json`,
    },
  };
}

export type RunLayout = ReturnType<typeof runLayout>;
