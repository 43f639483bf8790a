/**
 * Builds (or reuses) the per-op latency table of a search space on one hardware target.
 *
 * Tables are shared across runs: they live at `latency-tables/<plugin>/<hash>.json`, where the hash
 * covers the space's ops at their input sizes and the target's plugin, version and resolved config.
 * A second run with the same space and target, on any worker, gets the stored table without
 * measuring. A long measurement saves its table so far every few ops next to it
 * (`<hash>.partial.json`); a retried attempt, or a run that died mid-way, resumes from there.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { z } from 'zod';
import { getJson, putJson, type ArtifactStore } from '../artifacts';
import { SearchSpaceSchema, searchResolution, type SearchSpace } from '../dsl/search-space';
import type { HardwareTargetPlugin } from '../plugins/api';
import type { StageData } from '../dsl/dataset';
import type { ImageDataset } from '../engine/data/dataset';
// None of these loads TensorFlow; the measuring plugins require it when they measure.
import { measureOpTable } from '../engine/latency/build-table';
import { distinctOps, enumerateSpaceOps, type SpaceDims, type SpaceOps } from '../engine/latency/space-ops';
import { LatencyTableSchema, type OpLatencyTable } from '../engine/latency/table';
import { latencyTableKeys, spaceHash, tableHash, type TargetIdentity } from '../engine/latency/table-key';
import { datasetFor, storeFor } from './context';
import { activityHooks, assertCapable, measureOpOn, resolveTarget } from './target-measure';

export interface BuildLatencyTableInput extends SpaceDims {
  artifactLocation: string;
  /** Recorded in the table as who measured it; the table itself is shared by all runs. */
  runId?: string;
  /** The search space as the pipeline declares it (defaults are filled here). */
  space: z.input<typeof SearchSpaceSchema>;
  targetId: string;
  plugin: string;
  config: unknown;
  /** Absolute paths of the user plugin modules the pipeline declared. */
  pluginFiles: string[];
  /** Save the partial table after this many newly measured ops (default 4). */
  checkpointEvery?: number;
  /**
   * The search's data, loaded (once per worker process): the table then holds `searchOps`, the
   * search's resolution and the data's channels and classes taking the place of `inputResolution`,
   * `inputChannels` and `numClasses`, so latencies read from it are the whole net's.
   */
  dataset?: StageData;
  /** The pipeline seed the data is loaded with (default 0). */
  seed?: number;
}

/** What the activity heartbeats: progress for people, and where a retry resumes from. */
export interface LatencyTableProgress {
  tableKey: string;
  partialKey: string;
  opsDone: number;
  opsTotal: number;
  /** The op being measured and the measuring plugin's own heartbeat (runs done of total). */
  op?: string;
  detail?: unknown;
}

export interface TableJob {
  store: ArtifactStore;
  target: HardwareTargetPlugin;
  /** Resolved (parsed) config of the target. */
  config: unknown;
  ops: SpaceOps;
  runId?: string;
  targetId?: string;
  checkpointEvery?: number;
  heartbeat(details: LatencyTableProgress): void;
  signal?: AbortSignal;
}

/**
 * A digest of what a config names but does not contain. Only `lut` has such a thing (its table
 * file): without it, replacing the phone table at the same path would return the stale cache.
 */
async function configSalt(job: TableJob): Promise<string | undefined> {
  if (job.target.name !== 'lut') return undefined;
  const { readLutTable } = require('../plugins/builtin/targets') as typeof import('../plugins/builtin/targets');
  const { text } = await readLutTable((job.config as { table: string }).table, { readArtifact: (key) => job.store.get(key) });
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The activity's work without Temporal: returns the stored table's key, measuring only when no
 * table with the same hash exists. Exported for tests and for callers outside an activity.
 */
export async function buildOrReuseLatencyTable(job: TableJob): Promise<string> {
  const { store, target } = job;
  // Before any hashing: a target that cannot measure ops must not be handed a cached table either.
  assertCapable(target, 'measureOp');
  const ops = distinctOps(job.ops);
  const space = spaceHash(ops);
  const identity: TargetIdentity = { plugin: target.name, version: target.version, config: job.config, salt: await configSalt(job) };
  const hash = tableHash(space, identity);
  const { tableKey, partialKey } = latencyTableKeys(target.name, hash);
  if (await store.head(tableKey)) return tableKey;

  let resumeFrom: OpLatencyTable['entries'] = [];
  if (await store.head(partialKey)) {
    const partial = LatencyTableSchema.safeParse(await getJson<unknown>(store, partialKey));
    // A partial from another hash cannot happen by construction; a malformed one is just measured again.
    if (partial.success && partial.data.hash === hash) resumeFrom = partial.data.entries;
  }
  const progress = (opsDone: number, op?: string, detail?: unknown): LatencyTableProgress => ({ tableKey, partialKey, opsDone, opsTotal: ops.length, op, detail });
  let opsDone = resumeFrom.length;
  job.heartbeat(progress(opsDone));

  const readArtifact = (key: string) => store.get(key);
  const table = await measureOpTable(
    ops,
    (op) =>
      measureOpOn({ plugin: target, config: job.config }, op, {
        heartbeat: (detail) => job.heartbeat(progress(opsDone, undefined, detail)),
        signal: job.signal,
        readArtifact,
      }),
    {
      target: identity,
      spaceHash: space,
      hash,
      measuredBy: job.runId || job.targetId ? { runId: job.runId, targetId: job.targetId } : undefined,
      resumeFrom,
      checkpointEvery: job.checkpointEvery,
      signal: job.signal,
      onProgress: (done, _total, key) => {
        opsDone = done;
        job.heartbeat(progress(done, key));
      },
      onCheckpoint: async (partial) => {
        await putJson(store, partialKey, partial);
      },
    },
  );
  await putJson(store, tableKey, table);
  await store.delete(partialKey).catch(() => undefined);
  return tableKey;
}

/** Errors a retry cannot fix: the table or the config is wrong, not the worker. */
const PERMANENT = new Set(['MissingOpsError', 'LatencyTableFormatError', 'UnsupportedTargetConfigError']);

/**
 * The ops a search prices: every candidate of its space and the stem, head, pool and classifier
 * every net shares, at the search's resolution and the data's channels and classes. The table is
 * built from these, and the supernet and the band draws read it back through them.
 */
export function searchOps(space: SearchSpace, dataset: StageData, data: Pick<ImageDataset, 'channels' | 'numClasses'>): SpaceOps {
  return enumerateSpaceOps(space, { inputResolution: searchResolution(space, dataset), inputChannels: data.channels, numClasses: data.numClasses });
}

/** Reads a stored table and validates it. */
export async function loadLatencyTable(store: ArtifactStore, key: string): Promise<OpLatencyTable> {
  return LatencyTableSchema.parse(await getJson<unknown>(store, key));
}

/** The ops at the dimensions a caller without the search's data gives. */
function explicitOps(space: SearchSpace, dims: SpaceDims): SpaceOps {
  const inputResolution = dims.inputResolution ?? space.inputResolution;
  if (inputResolution === undefined) {
    throw ApplicationFailure.nonRetryable('buildLatencyTable: the search space has no inputResolution and none was given', 'InvalidInput');
  }
  return enumerateSpaceOps(space, { inputResolution, inputChannels: dims.inputChannels, numClasses: dims.numClasses });
}

/**
 * Activity: the artifact key of the latency table of `space` on the target, building it if no run
 * has yet. Heartbeats `LatencyTableProgress`; give it a heartbeat timeout longer than one op's
 * measurement (seconds on a CPU, for the default repeats).
 */
export async function buildLatencyTable(input: BuildLatencyTableInput): Promise<string> {
  const store = storeFor(input.artifactLocation);
  const target = resolveTarget({ id: input.targetId, plugin: input.plugin, config: input.config }, input.pluginFiles, 'measureOp');
  const space = SearchSpaceSchema.parse(input.space);
  const ops = input.dataset ? searchOps(space, input.dataset, datasetFor(input.dataset, input.seed ?? 0)) : explicitOps(space, input);
  try {
    const hooks = activityHooks();
    return await buildOrReuseLatencyTable({
      store,
      target: target.plugin,
      config: target.config,
      ops,
      runId: input.runId,
      targetId: input.targetId,
      checkpointEvery: input.checkpointEvery,
      heartbeat: hooks.heartbeat,
      signal: hooks.signal,
    });
  } catch (err) {
    if (err instanceof Error && PERMANENT.has(err.name)) {
      throw ApplicationFailure.nonRetryable(`hardware target "${input.targetId}" (${input.plugin}): ${err.message}`, err.name);
    }
    throw err;
  }
}
