/**
 * The names of cached latency tables, pinned. Stored tables are shared between runs and found by
 * these keys alone, so a refactor that changes a byte of what is hashed (op keys, enumeration
 * order, canonical JSON, the tags, a default of a built-in config) would silently orphan every
 * table measured so far. The values were taken from the code before engine/latency/ was split.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildLatencyTable, loadLatencyTable, type BuildLatencyTableInput } from '../../../../activities/latency-table';
import { openArtifactStore } from '../../../../artifacts';
import { SearchSpaceSchema } from '../../../../dsl/search-space';
import { opKey } from '../../../../engine/latency/ops';
import { distinctOps, enumerateSpaceOps } from '../../../../engine/latency/space-ops';
import { canonicalJson, latencyTableKeys, spaceHash, tableHash } from '../../../../engine/latency/table-key';
import { nodeCpu } from '../../../../plugins/builtin/targets';

const SPACE_INPUT = {
  inputResolution: 16,
  stem: { channels: 8, stride: 1 as const },
  stages: [
    { channels: 8, repeats: 1, kernels: [3 as const], expansions: [1] },
    { channels: 16, repeats: 2, stride: 2 as const, kernels: [3 as const, 5 as const], expansions: [3, 6], skip: true },
  ],
  head: { channels: 32 },
};
const ops = enumerateSpaceOps(SearchSpaceSchema.parse(SPACE_INPUT), { inputChannels: 1, numClasses: 10 });

test('the ops of a small space, in the order a table lists them', () => {
  expect(distinctOps(ops).map(opKey)).toEqual([
    'mbconv_16x16x8_o8_k3_s1_e1_se1',
    'mbconv_16x16x8_o16_k3_s2_e3_se1',
    'mbconv_16x16x8_o16_k3_s2_e6_se1',
    'mbconv_16x16x8_o16_k5_s2_e3_se1',
    'mbconv_16x16x8_o16_k5_s2_e6_se1',
    'mbconv_8x8x16_o16_k3_s1_e3_se1',
    'mbconv_8x8x16_o16_k3_s1_e6_se1',
    'mbconv_8x8x16_o16_k5_s1_e3_se1',
    'mbconv_8x8x16_o16_k5_s1_e6_se1',
    'conv_16x16x1_o8_k3_s1',
    'conv_8x8x16_o32_k1_s1',
    'pool_8x8x32_o32_k8_s1',
    'dense_1x1x32_o10_k1_s1',
  ]);
});

test('space hash and table hash of that space are byte-identical to those already stored', () => {
  const space = spaceHash(ops);
  expect(space).toBe('9425182995d2c86c37a1');
  const config = nodeCpu.configSchema.parse({});
  expect(config).toEqual({ backend: 'tensorflow', batchSize: 1, warmupRuns: 5, repeats: 20 });
  expect(tableHash(space, { plugin: 'node-cpu', version: '0.2.0', config })).toBe('5033dc806e0458a6c27c20bd');
  expect(tableHash(space, { plugin: 'lut', version: '0.2.0', config: { table: 't.json', missing: 'error' }, salt: 'abc' })).toBe('fc9efc3a9bd7b8b19e354f5b');
  expect(latencyTableKeys('node-cpu', '5033dc806e0458a6c27c20bd')).toEqual({
    tableKey: 'latency-tables/node-cpu/5033dc806e0458a6c27c20bd.json',
    partialKey: 'latency-tables/node-cpu/5033dc806e0458a6c27c20bd.partial.json',
  });
});

test('canonical JSON sorts keys at every level and drops undefined members', () => {
  expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,{"x":null,"z":1}]},"b":1}');
});

test('the activity stores the table of that space on the macs target under the same key and content', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nas-table-key-'));
  try {
    const input: BuildLatencyTableInput = { artifactLocation: root, runId: 'r1', space: SPACE_INPUT, inputChannels: 1, numClasses: 10, targetId: 't', plugin: 'macs', config: {}, pluginFiles: [] };
    // The mock environment types what an activity returns as unknown.
    const key = (await new MockActivityEnvironment().run(buildLatencyTable, input)) as string;
    expect(key).toBe('latency-tables/macs/4a205d07b276ab929c0efc1d.json');
    const table = await loadLatencyTable(openArtifactStore(root), key);
    expect(createHash('sha256').update(canonicalJson(table)).digest('hex')).toBe('9dbc48830c833775cce830c2272c49f6694f9d820b455ea9aec8be170597d3a0');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
