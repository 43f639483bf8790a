/**
 * Calibrates a latency table on its target: nets drawn from the search space are built, saved as
 * tfjs saves them and timed whole by the target's `measureModel`, in passes over all of them (each
 * net's latency the median of its passes); the predictor fitted on them
 * and the check numbers (table sum against measured, and the predictor's held-out) are stored
 * next to the table, at `latency-tables/<plugin>/<hash>.calibration-<nets>.json`.
 *
 * Like the table, the file is shared by every run with the same table and reused without
 * measuring; a long calibration saves the nets so far every few nets (`.partial.json`) and a
 * retried attempt resumes from there. Targets that do not time (macs, lut) price a net as exactly
 * its table sum: nothing to calibrate, the activity returns undefined.
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import type { z } from 'zod';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import { runLayout } from '../core/run-layout';
import type { StageData } from '../dsl/dataset';
import { decisionsOf, SearchSpaceSchema, searchResolution, type SearchSpace } from '../dsl/search-space';
import { encodeBlock } from '../engine/arch/block-string';
import { archFromChoices } from '../engine/arch/from-choices';
import {
  CALIBRATION_FORMAT,
  CALIBRATION_SEED,
  CalibrationFileSchema,
  DEFAULT_CALIBRATION_NETS,
  DEFAULT_CALIBRATION_PASSES,
  describeCheck,
  drawCalibrationChoices,
  measureCalibrationNets,
  searchPrices,
  spacePrices,
  summarizeCalibration,
  type CalibrationFile,
} from '../engine/latency/calibration';
import type { SpaceOps } from '../engine/latency/space-ops';
import type { OpLatencyTable } from '../engine/latency/table';
import type { LatencyMeasurement } from '../plugins/api';
import type { PredictionCheck } from '../engine/latency/predictor';
import { datasetFor, storeFor } from './context';
import { loadLatencyTable, searchOps } from './latency-table';
import { activityHooks, measureModelOn, resolveTarget, withSavedModel, type MeasureHooks, type ResolvedTarget } from './target-measure';

export interface CalibrateLatencyModelInput {
  artifactLocation: string;
  runId?: string;
  space: z.input<typeof SearchSpaceSchema>;
  dataset: StageData;
  seed?: number;
  targetId: string;
  plugin: string;
  config: unknown;
  pluginFiles: string[];
  /** The table to calibrate (what buildLatencyTable returned). */
  tableKey: string;
  /** Nets to time whole; default 40. */
  nets?: number;
  checkpointEvery?: number;
}

/** What the workflow keeps of a calibration: where it is, and its check numbers (a few numbers, for the run's result). */
export interface LatencyCalibrationSummary {
  key: string;
  targetId: string;
  nets: number;
  use: 'predictor' | 'plain';
  plain: PredictionCheck;
  predictor: PredictionCheck;
}

export interface CalibrationProgress {
  calibrationKey: string;
  /** Whole-net timings done and wanted: every net once per pass. */
  timingsDone: number;
  timingsTotal: number;
  detail?: unknown;
}

/** Where the calibration of `tableKey` with `nets` nets lives, and its partial copy. */
export function calibrationKeys(tableKey: string, nets: number): { key: string; partialKey: string } {
  const base = tableKey.replace(/\.json$/, '');
  return { key: `${base}.calibration-${nets}.json`, partialKey: `${base}.calibration-${nets}.partial.json` };
}

export async function loadCalibration(store: ArtifactStore, key: string): Promise<CalibrationFile> {
  return CalibrationFileSchema.parse(await getJson<unknown>(store, key));
}

export interface CalibrationJob {
  store: ArtifactStore;
  target: Pick<ResolvedTarget, 'plugin' | 'config'>;
  space: SearchSpace;
  ops: SpaceOps;
  /** One example's shape, [side, side, channels]. */
  inputShape: [number, number, number];
  numClasses: number;
  tableKey: string;
  nets: number;
  checkpointEvery?: number;
  hooks: MeasureHooks;
  /** Called with progress; defaults to the hooks' heartbeat. */
  heartbeat?(p: CalibrationProgress): void;
}

/** Times one net of the space whole on the target: built with inference-mode layers, saved, measured from disk as a user's export would be. */
export async function measureNet(job: Pick<CalibrationJob, 'target' | 'space' | 'inputShape' | 'numClasses' | 'hooks'>, choices: readonly number[]): Promise<LatencyMeasurement> {
  const { buildArchModel } = require('../engine/models/arch-model') as typeof import('../engine/models/arch-model');
  const [side, , channels] = job.inputShape;
  const spec = archFromChoices(job.space, choices, { resolution: side, inputChannels: channels, numClasses: job.numClasses });
  const model = buildArchModel(spec, { inferenceOnly: true });
  try {
    return await withSavedModel(model, (dir) => measureModelOn(job.target, dir, [...job.inputShape], job.hooks));
  } finally {
    model.dispose();
  }
}

/** The activity's work without Temporal: the calibration file's key, measuring only what no earlier attempt stored. */
export async function buildOrReuseCalibration(job: CalibrationJob): Promise<string> {
  const { store, space } = job;
  const { key, partialKey } = calibrationKeys(job.tableKey, job.nets);
  if (await store.head(key)) return key;
  const table: OpLatencyTable = await loadLatencyTable(store, job.tableKey);
  const prices = spacePrices(table, job.ops);
  const decisions = decisionsOf(space);
  const identity = (c: number[]) => archFromChoices(space, c, { resolution: job.inputShape[0], inputChannels: 1, numClasses: 2 }).blocks.map(encodeBlock).join(' ');
  const wanted = drawCalibrationChoices(decisions, job.nets, identity);
  let resumeFrom: CalibrationFile['nets'] = [];
  if (await store.head(partialKey)) {
    const partial = CalibrationFileSchema.safeParse(await getJson<unknown>(store, partialKey));
    // A malformed partial is measured again rather than trusted.
    if (partial.success && partial.data.tableKey === job.tableKey) resumeFrom = partial.data.nets;
  }
  const heartbeat = job.heartbeat ?? ((p: CalibrationProgress) => job.hooks.heartbeat(p));
  // Set by measureCalibrationNets' first progress call, before anything is measured.
  let timingsDone = 0;
  const timingsTotal = wanted.length * DEFAULT_CALIBRATION_PASSES;
  const file = (nets: CalibrationFile['nets']): CalibrationFile => ({
    format: CALIBRATION_FORMAT,
    target: job.target.plugin.name,
    tableKey: job.tableKey,
    tableHash: table.hash,
    seed: CALIBRATION_SEED,
    netsWanted: job.nets,
    nets,
  });
  const nets = await measureCalibrationNets(
    wanted,
    prices,
    (choices) => measureNet({ ...job, hooks: { ...job.hooks, heartbeat: (detail) => heartbeat({ calibrationKey: key, timingsDone, timingsTotal, detail }) } }, choices),
    {
      passes: DEFAULT_CALIBRATION_PASSES,
      resumeFrom,
      checkpointEvery: job.checkpointEvery,
      signal: job.hooks.signal,
      onProgress: (done, total) => {
        timingsDone = done;
        heartbeat({ calibrationKey: key, timingsDone: done, timingsTotal: total });
      },
      onCheckpoint: async (partial) => {
        await putJson(store, partialKey, file(partial));
      },
    },
  );
  const summary = summarizeCalibration(nets);
  // A Spearman of NaN (one side constant) is written as null, which the schema reads back as NaN.
  await putJson(store, key, {
    ...file(nets.map((n, i) => ({ ...n, heldOutMs: summary.heldOutMs[i] }))),
    predictor: summary.predictor,
    check: summary.check,
    use: summary.use,
  } satisfies CalibrationFile);
  await store.delete(partialKey).catch(() => undefined);
  return key;
}

/**
 * Activity: the calibration of the search's table on its target (its key and check numbers),
 * measuring it if no run has yet; undefined for a target that does not time whole nets (`timed`
 * unset), or with `nets: 0`. Heartbeats `CalibrationProgress`.
 */
export async function calibrateLatencyModel(input: CalibrateLatencyModelInput): Promise<LatencyCalibrationSummary | undefined> {
  const nets = input.nets ?? DEFAULT_CALIBRATION_NETS;
  const target = resolveTarget({ id: input.targetId, plugin: input.plugin, config: input.config }, input.pluginFiles, 'measureModel');
  if (!target.plugin.timed || nets === 0) return undefined;
  if (nets < 10) throw ApplicationFailure.nonRetryable(`calibrating ${input.targetId}: ${nets} nets cannot check a predictor; use at least 10 (or 0 for the plain table)`, 'InvalidInput');
  const store = storeFor(input.artifactLocation);
  const space = SearchSpaceSchema.parse(input.space);
  const data = datasetFor(input.dataset, input.seed ?? 0);
  const side = searchResolution(space, input.dataset);
  const key = await buildOrReuseCalibration({
    store,
    target,
    space,
    ops: searchOps(space, input.dataset, data),
    inputShape: [side, side, data.channels],
    numClasses: data.numClasses,
    tableKey: input.tableKey,
    nets,
    checkpointEvery: input.checkpointEvery,
    hooks: activityHooks(store),
  });
  const calibration = await loadCalibration(store, key);
  // The run's own copy: what its report reads, and what the user finds in the run's folder.
  if (input.runId) await putJson(store, runLayout(input.runId).search.latencyCalibration, { ...calibration, targetId: input.targetId } satisfies CalibrationFile);
  if (!calibration.check || !calibration.use) throw new Error(`${key}: a calibration without its check numbers (an unfinished file where a finished one belongs)`);
  log.info(`latency model of ${input.targetId}: table sum ${describeCheck(calibration.check.plain)}; predictor (held out) ${describeCheck(calibration.check.predictor)}; the search uses the ${calibration.use}`);
  return { key, targetId: input.targetId, nets: calibration.nets.length, use: calibration.use, plain: calibration.check.plain, predictor: calibration.check.predictor };
}

/** The prices a search reads: the table's, re-priced by the calibration where it is better. */
export async function loadSearchPrices(store: ArtifactStore, tableKey: string, ops: SpaceOps, calibrationKey?: string): Promise<{ matrix: number[][]; fixedMs: number; calibrated: boolean }> {
  const table = await loadLatencyTable(store, tableKey);
  return searchPrices(table, ops, calibrationKey ? await loadCalibration(store, calibrationKey) : undefined);
}
