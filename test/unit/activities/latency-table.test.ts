/**
 * The buildLatencyTable activity and its store logic: a table is measured once per (ops, target)
 * and reused across runs; an attempt that dies mid-way leaves a partial table that the retry
 * resumes from; progress is heartbeated. Uses a local artifact store and Temporal's mock
 * activity environment (no server), and spy targets that count their calls.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { openArtifactStore, type ArtifactStore } from '../../../artifacts';
import { SearchSpaceSchema } from '../../../dsl/search-space';
import { opKey, opMacs } from '../../../engine/latency/ops';
import { distinctOps, enumerateSpaceOps, type SpaceOps } from '../../../engine/latency/space-ops';
import { fixedLatencyMs, latencyMatrix } from '../../../engine/latency/table';
import { buildLatencyTable, buildOrReuseLatencyTable, loadLatencyTable, type BuildLatencyTableInput, type LatencyTableProgress } from '../../../activities/latency-table';
import { definePlugin, z, type OpSignature } from '../../../plugins/api';

const SPACE_INPUT = {
  inputResolution: 16,
  stem: { channels: 8, stride: 1 as const },
  stages: [
    { channels: 8, repeats: 1, kernels: [3 as const], expansions: [1] },
    { channels: 16, repeats: 2, stride: 2 as const, kernels: [3 as const, 5 as const], expansions: [3, 6], skip: true },
  ],
};
const SPACE = SearchSpaceSchema.parse(SPACE_INPUT);

/** A target that prices ops by MACs and records every call; `failAfter` makes it die mid-table. */
function spyTarget(opts: { failAfter?: number } = {}) {
  const calls: string[] = [];
  const plugin = definePlugin({
    kind: 'hardware-target',
    name: 'spy',
    version: '1.0.0',
    configSchema: z.object({ scale: z.number().default(1) }).strict(),
    async measureOp(op: OpSignature, ctx) {
      if (opts.failAfter !== undefined && calls.length >= opts.failAfter) throw new Error('worker died');
      calls.push(`${op.kernel}/${op.expansion}/${op.inputSize}`);
      ctx.heartbeat({ fake: true });
      return { medianMs: (opMacs(op) / 1e6) * ctx.config.scale, p90Ms: (opMacs(op) / 1e6) * ctx.config.scale, repeats: 1 };
    },
  });
  return { plugin, calls };
}

let root: string;
let store: ArtifactStore;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'nas-latency-activity-'));
  store = openArtifactStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function job(ops: SpaceOps, plugin: ReturnType<typeof spyTarget>['plugin'], config = { scale: 1 }, beats: LatencyTableProgress[] = []) {
  return { store, target: plugin, config, ops, checkpointEvery: 2, heartbeat: (d: LatencyTableProgress) => beats.push(d) };
}

test('a second build with the same space and target returns the same key without measuring', async () => {
  const ops = enumerateSpaceOps(SPACE);
  const spy = spyTarget();
  const key = await buildOrReuseLatencyTable(job(ops, spy.plugin));
  expect(key).toMatch(/^latency-tables\/spy\/[0-9a-f]{24}\.json$/);
  expect(spy.calls).toHaveLength(distinctOps(ops).length);
  expect(await store.list('latency-tables/spy/')).toEqual([key]); // the partial is gone

  const again = spyTarget();
  expect(await buildOrReuseLatencyTable(job(ops, again.plugin))).toBe(key);
  expect(again.calls).toHaveLength(0);

  // Another config is another table.
  const scaled = spyTarget();
  expect(await buildOrReuseLatencyTable(job(ops, scaled.plugin, { scale: 2 }))).not.toBe(key);
  expect(scaled.calls).toHaveLength(distinctOps(ops).length);

  const table = await loadLatencyTable(store, key);
  expect(latencyMatrix(table, ops)[2]).toEqual([...ops.decisions[2].options.slice(0, 4).map((o) => opMacs(o!) / 1e6), 0]);
});

test('a retry after a crash resumes from the partial table and heartbeats progress', async () => {
  const ops = enumerateSpaceOps(SPACE);
  const total = distinctOps(ops).length; // 9
  const dying = spyTarget({ failAfter: 5 });
  await expect(buildOrReuseLatencyTable(job(ops, dying.plugin))).rejects.toThrow('worker died');
  // Checkpoints every 2 ops: after 5 measured ops the partial holds 4.
  const [partialKey] = await store.list('latency-tables/spy/');
  expect(partialKey).toMatch(/\.partial\.json$/);

  const retry = spyTarget();
  const beats: LatencyTableProgress[] = [];
  const key = await buildOrReuseLatencyTable(job(ops, retry.plugin, { scale: 1 }, beats));
  expect(retry.calls).toHaveLength(total - 4);
  expect(beats[0]).toMatchObject({ tableKey: key, partialKey, opsDone: 4, opsTotal: total });
  expect(beats.at(-1)).toMatchObject({ opsDone: total, opsTotal: total });
  // The target's own heartbeats are wrapped, so every beat says how far the table is.
  expect(beats.some((b) => (b.detail as { fake?: boolean } | undefined)?.fake)).toBe(true);
  expect((await loadLatencyTable(store, key)).entries).toHaveLength(total);
});

test('the activity resolves the built-in plugin and config, caches, and heartbeats', async () => {
  // The expected failures below would otherwise be logged as warnings.
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  // MockActivityEnvironment.run does not infer the result type through the activity's signature.
  const run = (i: BuildLatencyTableInput) => env.run(buildLatencyTable, i) as Promise<string>;
  const input: BuildLatencyTableInput = {
    artifactLocation: root,
    runId: 'run-1',
    space: SPACE_INPUT,
    inputChannels: 1,
    numClasses: 10,
    targetId: 'proxy',
    plugin: 'macs',
    config: { msPerMegaMac: 0.02 },
    pluginFiles: [],
  };
  const key = await run(input);
  expect(key).toMatch(/^latency-tables\/macs\/[0-9a-f]{24}\.json$/);
  const table = await loadLatencyTable(store, key);
  expect(table).toMatchObject({ target: 'macs', config: { msPerMegaMac: 0.02 }, measuredBy: { runId: 'run-1', targetId: 'proxy' } });
  expect(table.entries).toHaveLength(9 + 4);
  expect(beats.at(-1)).toMatchObject({ opsDone: 13, opsTotal: 13 });

  // A later run (another run id) gets the same table; defaults written out do not change the hash.
  const second = await run({ ...input, runId: 'run-2', config: { msPerMegaMac: 0.02 } });
  expect(second).toBe(key);
  await expect(run({ ...input, plugin: 'no-such-target' })).rejects.toThrow(/"no-such-target" is not registered/);
  await expect(run({ ...input, config: { msPerMegaMac: -1 } })).rejects.toThrow(/invalid config: msPerMegaMac: Too small/);
  // A config the worker cannot honour fails for good instead of being retried.
  await expect(run({ ...input, plugin: 'wasm', config: { threads: 4 } })).rejects.toMatchObject({ nonRetryable: true, type: 'UnsupportedTargetConfigError' });
});

test('given the search data, the table prices the whole net: stem and classifier at its channels and classes', async () => {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const run = (i: BuildLatencyTableInput) => env.run(buildLatencyTable, i) as Promise<string>;
  // A CIFAR-10 folder of two records per file: 3 channels and 10 classes, unlike the defaults anywhere.
  const cifar = join(root, 'cifar');
  mkdirSync(cifar);
  const records = Buffer.alloc(2 * 3073);
  for (const name of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']) writeFileSync(join(cifar, `${name}.bin`), records);
  const input: BuildLatencyTableInput = {
    artifactLocation: root,
    space: SPACE_INPUT,
    dataset: { name: 'cifar10', path: cifar, resolution: 32, validationFraction: 0.1 },
    seed: 3,
    targetId: 'proxy',
    plugin: 'macs',
    config: {},
    pluginFiles: [],
  };
  const table = await loadLatencyTable(store, await run(input));
  const whole = enumerateSpaceOps(SPACE, { inputChannels: 3, numClasses: 10 });
  expect(whole.fixed[0]).toMatchObject({ inChannels: 3 });
  expect(whole.fixed.at(-1)).toMatchObject({ op: 'dense', outChannels: 10 });
  expect(table.entries.map((e) => e.key).sort()).toEqual(distinctOps(whole).map(opKey).sort());
  expect(fixedLatencyMs(table, whole)).toBeCloseTo(whole.fixed.reduce((s, o) => s + (opMacs(o) / 1e6) * 0.01, 0), 12);

  await expect(run({ ...input, dataset: { ...input.dataset!, path: join(root, 'nowhere') } })).rejects.toThrow(/CIFAR-10 file data_batch_1.bin not found/);
});
