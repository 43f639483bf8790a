/**
 * Latency tables end to end on real backends: the buildLatencyTable activity measures a small
 * space on node-cpu (native TensorFlow) and on wasm, stores both, and a `lut` target pointed at
 * the stored node-cpu table by artifact key reproduces its matrix exactly, as a table measured on
 * a phone would be used. No thresholds on the timings: only their shape and consistency.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { openArtifactStore } from '../../artifacts';
import { buildLatencyTable, loadLatencyTable, type BuildLatencyTableInput } from '../../activities/latency-table';
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
