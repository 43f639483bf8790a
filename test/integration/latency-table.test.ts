/**
 * Latency tables end to end on real backends: the buildLatencyTable activity measures a small
 * space on node-cpu (native TensorFlow) and on wasm, stores both, and a `lut` target pointed at
 * the stored node-cpu table by artifact key reproduces its matrix exactly, as a table measured on
 * a phone would be used; a node-cpu table is calibrated against nets of the space timed whole. No thresholds on the timings: only their shape and consistency.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { openArtifactStore } from '../../artifacts';
import { buildLatencyTable, loadLatencyTable, type BuildLatencyTableInput } from '../../activities/latency-table';
import { calibrateLatencyModel, loadCalibration, type CalibrateLatencyModelInput, type LatencyCalibrationSummary } from '../../activities/latency-model';
import { runLayout } from '../../core/run-layout';
import { DEFAULT_CALIBRATION_PASSES } from '../../core/stage-settings';
import { writeFashionSubset } from './support/fashion-subset';
import { SearchSpaceSchema } from '../../dsl/search-space';
import { loadTf } from '../../engine/backend';
import { distinctOps, enumerateSpaceOps } from '../../engine/latency/space-ops';
import { fixedLatencyMs, latencyMatrix } from '../../engine/latency/table';

const SPACE = {
  inputResolution: 12,
  stem: { channels: 8, stride: 1 as const },
  stages: [{ channels: 8, repeats: 2, stride: 2 as const, kernels: [3 as const, 7 as const], expansions: [3, 6], skip: true }],
  head: { channels: 16 },
};
const FAST = { batchSize: 1, warmupRuns: 1, repeats: 5 };

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nas-latency-int-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('node-cpu and wasm tables are measured, cached, and reusable through lut', async () => {
  const env = new MockActivityEnvironment();
  const run = (i: BuildLatencyTableInput) => env.run(buildLatencyTable, i) as Promise<string>;
  const base = { artifactLocation: root, runId: 'r1', space: SPACE, inputChannels: 1, numClasses: 4, pluginFiles: [] };
  const ops = enumerateSpaceOps(SearchSpaceSchema.parse(SPACE), { inputChannels: 1, numClasses: 4 });
  const store = openArtifactStore(root);

  const cpuKey = await run({ ...base, targetId: 'cpu', plugin: 'node-cpu', config: FAST });
  const wasmKey = await run({ ...base, targetId: 'browser', plugin: 'wasm', config: FAST });
  expect(loadTf().getBackend()).toBe('tensorflow');
  for (const key of [cpuKey, wasmKey]) {
    const table = await loadLatencyTable(store, key);
    expect(table.entries).toHaveLength(distinctOps(ops).length);
    for (const e of table.entries) {
      expect(e.medianMs).toBeGreaterThan(0);
      expect(e.p90Ms!).toBeGreaterThanOrEqual(e.medianMs);
    }
    const matrix = latencyMatrix(table, ops);
    expect(matrix[1][4]).toBe(0); // the zero op
    expect(fixedLatencyMs(table, ops)).toBeGreaterThan(0);
  }

  const lutKey = await run({ ...base, targetId: 'replay', plugin: 'lut', config: { table: cpuKey } });
  const cpu = await loadLatencyTable(store, cpuKey);
  const replayed = await loadLatencyTable(store, lutKey);
  expect(latencyMatrix(replayed, ops)).toEqual(latencyMatrix(cpu, ops));
  // Cached: the same request returns the same key (nothing re-measured: the stored object is unchanged).
  const before = await store.head(cpuKey);
  expect(await run({ ...base, runId: 'r2', targetId: 'cpu', plugin: 'node-cpu', config: FAST })).toBe(cpuKey);
  expect(await store.head(cpuKey)).toEqual(before);
});

test('a node-cpu table is calibrated against nets timed whole: stored beside the table, copied to the run, reused', async () => {
  const env = new MockActivityEnvironment();
  const data = { name: 'fashion-mnist' as const, path: writeFashionSubset(join(root, 'fashion'), 64, 16), resolution: 12, validationFraction: 0.1 };
  const base = { artifactLocation: root, runId: 'cal-1', space: SPACE, dataset: data, seed: 1, pluginFiles: [] };
  const store = openArtifactStore(root);
  const tableKey = (await env.run(buildLatencyTable, { ...base, targetId: 'cpu', plugin: 'node-cpu', config: FAST })) as string;
  const calibrate = async (i: Partial<CalibrateLatencyModelInput>) => ((await env.run(calibrateLatencyModel, { ...base, targetId: 'cpu', plugin: 'node-cpu', config: FAST, tableKey, nets: 10, ...i })) as LatencyCalibrationSummary | undefined)?.key;

  const summary: LatencyCalibrationSummary | undefined = await env.run(calibrateLatencyModel, { ...base, targetId: 'cpu', plugin: 'node-cpu', config: FAST, tableKey, nets: 10 });
  if (!summary) throw new Error('node-cpu is a timed target: it must be calibrated');
  const key = summary.key;
  expect(key).toBe(tableKey.replace(/\.json$/, '.calibration-10.json'));
  const file = await loadCalibration(store, key!);
  expect(file).toMatchObject({ target: 'node-cpu', tableKey, netsWanted: 10, use: expect.stringMatching(/^(predictor|plain)$/) });
  expect(file.nets).toHaveLength(10);
  const table = await loadLatencyTable(store, tableKey);
  const byKey = new Map(table.entries.map((e) => [e.key, e.medianMs]));
  for (const net of file.nets) {
    expect(net.measuredMs).toBeGreaterThan(0);
    // Timed in passes over all nets; the net's latency is the middle one.
    expect(net.passes).toHaveLength(DEFAULT_CALIBRATION_PASSES);
    expect(net.measuredMs).toBe(net.passes!.map((p) => p.medianMs).sort((a, b) => a - b)[(DEFAULT_CALIBRATION_PASSES - 1) / 2]);
    expect(net.heldOutMs).toEqual(expect.any(Number));
    // The plain prediction is the table's own sum over the net's ops (stem, head, pool and classifier included).
    expect(net.features.tableMs).toBeGreaterThan([...byKey.values()].sort((a, b) => a - b)[0]);
  }
  expect(file.check!.plain.nets).toBe(10);
  expect(summary).toEqual({ key, targetId: 'cpu', nets: 10, use: file.use, plain: file.check!.plain, predictor: file.check!.predictor });
  expect(file.check!.predictor.within10).toBeGreaterThanOrEqual(0);
  const copy = await loadCalibration(store, runLayout('cal-1').search.latencyCalibration);
  expect(copy).toEqual({ ...file, targetId: 'cpu' });

  const before = await store.head(key!);
  expect(await calibrate({ runId: 'cal-2' })).toBe(key);
  expect(await store.head(key!)).toEqual(before);
  // An analytic target is its own table sum: nothing to calibrate.
  const macsTable = (await env.run(buildLatencyTable, { ...base, targetId: 'proxy', plugin: 'macs', config: {} })) as string;
  expect(await calibrate({ targetId: 'proxy', plugin: 'macs', config: {}, tableKey: macsTable })).toBeUndefined();
  await expect(calibrate({ nets: 5 })).rejects.toThrow(/5 nets cannot check a predictor/);
});
