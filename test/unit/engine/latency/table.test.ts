/**
 * Latency tables without measuring: which ops a space has, their keys and hashes, and how a table
 * becomes the (decision, option) -> ms matrix the search uses. No TensorFlow is loaded here except
 * for the check against the architecture builder's unrolled blocks.
 */
import { decisionsOf, SearchSpaceSchema } from '../../../../dsl/search-space';
import { archFromChoices } from '../../../../engine/arch/from-choices';
import { unrollBlocks } from '../../../../engine/arch/spec';
import { measureOpTable } from '../../../../engine/latency/build-table';
import { opKey, opMacs, parseOpKey } from '../../../../engine/latency/ops';
import { distinctOps, enumerateSpaceOps } from '../../../../engine/latency/space-ops';
import { fixedLatencyMs, latencyMatrix, MissingOpsError, msPerMac, parseLatencyTable, type OpLatencyTable } from '../../../../engine/latency/table';
import { spaceHash, tableHash } from '../../../../engine/latency/table-key';
import type { OpSignature } from '../../../../plugins/api';

/** Two stages: a fixed first block, then a 2-block stage with 2 kernels x 2 expansions and skip. */
const SMALL = SearchSpaceSchema.parse({
  inputResolution: 16,
  stem: { channels: 8, stride: 1 },
  stages: [
    { channels: 8, repeats: 1, kernels: [3], expansions: [1] },
    { channels: 16, repeats: 2, stride: 2, kernels: [3, 5], expansions: [3, 6], skip: true },
  ],
  head: { channels: 32 },
});

describe('op enumeration', () => {
  const ops = enumerateSpaceOps(SMALL, { inputChannels: 1, numClasses: 10 });

  test('one op per option, null for the zero op, at the shape each position sees', () => {
    expect(ops.decisions.map((d) => d.id)).toEqual(['s1b1', 's2b1', 's2b2']);
    expect(ops.decisions.map((d) => d.options.length)).toEqual([1, 4, 5]);
    expect(ops.decisions[2].options[4]).toBeNull();
    // Stage 2's first block sees the stem's 16x16x8 and strides to 8x8x16; its second sees 8x8x16.
    expect(ops.decisions[1].options[0]).toEqual({ op: 'mbconv', inputSize: 16, inChannels: 8, outChannels: 16, kernel: 3, stride: 2, expansion: 3, se: true });
    expect(ops.decisions[2].options[3]).toEqual({ op: 'mbconv', inputSize: 8, inChannels: 16, outChannels: 16, kernel: 5, stride: 1, expansion: 6, se: true });
  });

  test('distinct ops: 1 + 4 + 4 block ops and 4 fixed ops', () => {
    expect(distinctOps(ops)).toHaveLength(13);
    expect(ops.fixed.map(opKey)).toEqual(['conv_16x16x1_o8_k3_s1', 'conv_8x8x16_o32_k1_s1', 'pool_8x8x32_o32_k8_s1', 'dense_1x1x32_o10_k1_s1']);
    expect(enumerateSpaceOps(SMALL).fixed).toEqual([]);
  });

  test('repeated positions share ops: the B0-shaped default space at 28 px has 71 distinct ops for 16 decisions', () => {
    const b0 = SearchSpaceSchema.parse({ stem: { stride: 1 } });
    const all = enumerateSpaceOps(b0, { inputResolution: 28, inputChannels: 1, numClasses: 10 });
    expect(all.decisions).toHaveLength(decisionsOf(b0).length);
    expect(distinctOps(all)).toHaveLength(67 + 4);
  });

  test('the ops of a choice vector are the blocks archFromChoices builds', () => {
    const choices = [0, 3, 4]; // s2b2 skipped
    const arch = archFromChoices(SMALL, choices, { resolution: 16, inputChannels: 1, numClasses: 10 });
    const blocks = unrollBlocks(arch);
    const picked = choices.map((c, d) => ops.decisions[d].options[c]).filter((o): o is OpSignature => o !== null);
    expect(picked.map((o) => [o.inChannels, o.outChannels, o.kernel, o.stride, o.expansion, o.se ? 0.25 : 0])).toEqual(
      blocks.map((b) => [b.inChannels, b.outChannels, b.kernel, b.stride, b.expansion, b.seRatio]),
    );
  });
});

describe('keys and hashes', () => {
  const op: OpSignature = { op: 'mbconv', inputSize: 28, inChannels: 16, outChannels: 24, kernel: 3, stride: 2, expansion: 6, se: true };

  test('keys are stable strings that parse back to the signature', () => {
    expect(opKey(op)).toBe('mbconv_28x28x16_o24_k3_s2_e6_se1');
    expect(opKey({ ...op, expansion: undefined, se: undefined })).toBe('mbconv_28x28x16_o24_k3_s2_e1_se0');
    expect(parseOpKey(opKey(op))).toEqual(op);
    for (const o of distinctOps(enumerateSpaceOps(SMALL, { inputChannels: 3, numClasses: 5 }))) expect(parseOpKey(opKey(o))).toEqual(o);
    expect(parseOpKey('mbconv_28x27x16_o24_k3_s2_e6_se1')).toBeUndefined();
    expect(parseOpKey('conv_28x28x16_o24_k3_s2_e6_se1')).toBeUndefined();
  });

  test('the space hash depends on the ops only; the table hash on the target too', () => {
    const ops = enumerateSpaceOps(SMALL);
    expect(spaceHash(ops)).toBe(spaceHash(enumerateSpaceOps({ ...SMALL, head: { channels: 32, dropout: 0.5 } })));
    expect(spaceHash(ops)).not.toBe(spaceHash(enumerateSpaceOps(SMALL, { inputResolution: 32 })));
    expect(spaceHash(ops)).toBe(spaceHash([...distinctOps(ops)].reverse()));
    const target = { plugin: 'node-cpu', version: '0.2.0', config: { backend: 'tensorflow', batchSize: 1, repeats: 20, warmupRuns: 5 } };
    const h = tableHash(spaceHash(ops), target);
    expect(h).toMatch(/^[0-9a-f]{24}$/);
    // Key order of the config does not matter, its values do.
    expect(tableHash(spaceHash(ops), { ...target, config: { warmupRuns: 5, repeats: 20, batchSize: 1, backend: 'tensorflow' } })).toBe(h);
    expect(tableHash(spaceHash(ops), { ...target, config: { ...target.config, batchSize: 8 } })).not.toBe(h);
    expect(tableHash(spaceHash(ops), { ...target, plugin: 'wasm' })).not.toBe(h);
  });
});

describe('from table to matrix', () => {
  const ops = enumerateSpaceOps(SMALL, { inputChannels: 1, numClasses: 10 });
  const all = distinctOps(ops);
  // Each op costs 1 ms per million MACs, so expectations can be computed independently.
  const fake = async (op: OpSignature) => ({ medianMs: opMacs(op) / 1e6, p90Ms: (1.5 * opMacs(op)) / 1e6, repeats: 3 });

  test('the matrix follows decisionsOf, with 0 for the zero op; fixed ops are summed separately', async () => {
    const table = await measureOpTable(all, fake, { target: { plugin: 'fake', version: '1', config: {} }, spaceHash: spaceHash(ops), hash: 'h' });
    const matrix = latencyMatrix(table, ops);
    expect(matrix.map((r) => r.length)).toEqual([1, 4, 5]);
    expect(matrix[2][4]).toBe(0);
    expect(matrix[1][2]).toBeCloseTo(opMacs(ops.decisions[1].options[2]!) / 1e6, 12);
    expect(fixedLatencyMs(table, ops)).toBeCloseTo(ops.fixed.reduce((s, o) => s + opMacs(o) / 1e6, 0), 12);
    // The table round-trips through its JSON format.
    expect(parseLatencyTable(JSON.stringify(table), 'test')).toEqual(table);
    expect(msPerMac(table)).toBeCloseTo(1e-6, 15);
  });

  test('a table without the fixed ops prices the blocks alone; one with only some of them is an error', async () => {
    const full = await measureOpTable(all, fake, { target: { plugin: 'fake', version: '1', config: {} }, spaceHash: spaceHash(ops), hash: 'h' });
    const fixedKeys = new Set(ops.fixed.map(opKey));
    // A table measured before pipeline tables held the stem and head: runs in flight keep using it.
    const blocksOnly: OpLatencyTable = { ...full, entries: full.entries.filter((e) => !fixedKeys.has(e.key)) };
    expect(blocksOnly.entries.length).toBe(full.entries.length - ops.fixed.length);
    expect(fixedLatencyMs(blocksOnly, ops)).toBe(0);
    expect(latencyMatrix(blocksOnly, ops)).toEqual(latencyMatrix(full, ops));
    const lostHead: OpLatencyTable = { ...full, entries: full.entries.filter((e) => e.key !== opKey(ops.fixed[1])) };
    expect(() => fixedLatencyMs(lostHead, ops)).toThrow(MissingOpsError);
    expect(() => fixedLatencyMs(lostHead, ops)).toThrow(opKey(ops.fixed[1]));
  });

  test('a missing op is an error naming it, never a free 0', async () => {
    const table: OpLatencyTable = { target: 'phone', entries: [{ key: opKey(all[0]), medianMs: 1 }] };
    expect(() => latencyMatrix(table, ops)).toThrow(MissingOpsError);
    expect(() => latencyMatrix(table, ops)).toThrow(/has no entry for 8 op\(s\): mbconv_16x16x8_o16_k3_s2_e3_se1/);
  });

  test('measuring resumes from earlier entries and checkpoints every N new ops', async () => {
    const calls: string[] = [];
    const measure = async (op: OpSignature) => (calls.push(opKey(op)), fake(op));
    const first = await measureOpTable(all.slice(0, 5), measure, { target: { plugin: 'fake', version: '1', config: {} }, spaceHash: 's', hash: 'h' });
    calls.length = 0;
    const checkpoints: number[] = [];
    const table = await measureOpTable(all, measure, {
      target: { plugin: 'fake', version: '1', config: {} },
      spaceHash: 's',
      hash: 'h',
      resumeFrom: first.entries,
      checkpointEvery: 3,
      onCheckpoint: async (partial) => void checkpoints.push(partial.entries.length),
    });
    expect(calls).toEqual(all.slice(5).map(opKey));
    expect(checkpoints).toEqual([8, 11]);
    expect(table.entries.map((e) => e.key)).toEqual(all.map(opKey));
  });

  test('a hand-written table (e.g. from a phone) needs only target and entries; bad ones say what is wrong', () => {
    const text = JSON.stringify({ target: 'pixel-7 tflite', entries: [{ key: 'mbconv_28x28x16_o24_k3_s2_e6_se1', medianMs: 1.2 }] });
    expect(parseLatencyTable(text, 'phone.json').entries[0].medianMs).toBe(1.2);
    expect(() => parseLatencyTable('{"target":"x","entries":[{"key":"a"}]}', 'bad.json')).toThrow(/bad.json is not valid: entries.0.medianMs/);
    expect(() => parseLatencyTable('{', 'broken.json')).toThrow(/broken.json is not valid: not JSON/);
  });
});
