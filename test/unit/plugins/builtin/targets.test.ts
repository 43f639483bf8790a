/**
 * The built-in hardware targets on single ops: macs agrees with the MAC counter on the built
 * block, node-cpu and wasm time a tiny op (no thresholds on the numbers: this machine is shared),
 * lut looks ops up by key. Ops are kept tiny and repeats low: two CPU cores run these.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SearchSpaceSchema } from '../../../../dsl/search-space';
import { archFromChoices } from '../../../../engine/arch/from-choices';
import { loadTf } from '../../../../engine/backend';
import { wasmBuild } from '../../../../engine/latency/backends';
import { countMacs } from '../../../../engine/latency/macs';
import { buildOpModel, opsOfModel } from '../../../../engine/latency/op-model';
import { opKey, opMacs } from '../../../../engine/latency/ops';
import { distinctOps, enumerateSpaceOps } from '../../../../engine/latency/space-ops';
import type { OpLatencyTable } from '../../../../engine/latency/table';
import { buildArchModel } from '../../../../engine/models/arch-model';
import type { OpSignature, TargetContext } from '../../../../plugins/api';
import { lut, macs, nodeCpu, wasm } from '../../../../plugins/builtin/targets';

const tf = loadTf();
const tiny: OpSignature = { op: 'mbconv', inputSize: 8, inChannels: 8, outChannels: 8, kernel: 3, stride: 1, expansion: 3, se: true };
const timing = { batchSize: 1, warmupRuns: 1, repeats: 5 };

function ctx<C>(config: C, extra: Partial<TargetContext<C>> = {}): TargetContext<C> {
  return { config, heartbeat: () => undefined, ...extra };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nas-latency-targets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('macs', () => {
  const ops: OpSignature[] = [
    tiny,
    { ...tiny, se: false },
    { ...tiny, expansion: 1 },
    { op: 'mbconv', inputSize: 15, inChannels: 12, outChannels: 20, kernel: 7, stride: 2, expansion: 6, se: true },
    { op: 'conv', inputSize: 28, inChannels: 1, outChannels: 16, kernel: 3, stride: 2 },
    { op: 'conv', inputSize: 7, inChannels: 40, outChannels: 64, kernel: 1, stride: 1 },
    { op: 'pool', inputSize: 7, inChannels: 64, outChannels: 64, kernel: 7, stride: 1 },
    { op: 'dense', inputSize: 1, inChannels: 64, outChannels: 10, kernel: 1, stride: 1 },
  ];

  test.each(ops.map((o) => [opKey(o), o] as const))('measureOp of %s is the MAC count of the built op times msPerMegaMac', async (_key, op) => {
    const model = buildOpModel(op);
    const counted = countMacs(model);
    model.dispose();
    expect(opMacs(op)).toBe(counted);
    const m = await macs.measureOp!(op, ctx({ msPerMegaMac: 0.5 }));
    expect(m.medianMs).toBeCloseTo((counted / 1e6) * 0.5, 12);
    expect(m.p90Ms).toBe(m.medianMs);
  });
});

describe('node-cpu', () => {
  test('measureOp returns a positive median and p90 >= median, and restores the backend', async () => {
    const beats: unknown[] = [];
    const m = await nodeCpu.measureOp!(tiny, ctx({ backend: 'tensorflow' as const, ...timing }, { heartbeat: (d) => beats.push(d) }));
    expect(m.medianMs).toBeGreaterThan(0);
    expect(m.p90Ms!).toBeGreaterThanOrEqual(m.medianMs);
    expect(m.repeats).toBe(5);
    expect(beats).toHaveLength(6);
    expect(beats[5]).toEqual({ op: opKey(tiny), done: 6, total: 6 });
    expect(tf.getBackend()).toBe('tensorflow');
  });
});

describe('wasm', () => {
  test('measureOp runs on the WebAssembly backend (SIMD build) and switches back', async () => {
    const during: string[] = [];
    const m = await wasm.measureOp!(tiny, ctx({ threads: 1, simd: true, ...timing }, { heartbeat: () => during.push(tf.getBackend()) }));
    expect(new Set(during)).toEqual(new Set(['wasm']));
    expect(wasmBuild()).toEqual({ simd: true, threads: 1 });
    expect(m.medianMs).toBeGreaterThan(0);
    expect(m.p90Ms!).toBeGreaterThanOrEqual(m.medianMs);
    expect(tf.getBackend()).toBe('tensorflow');
  });

  test('the plain build re-registers the backend; threads > 1 is refused with the reason', async () => {
    const during: string[] = [];
    await wasm.measureOp!(tiny, ctx({ threads: 1, simd: false, ...timing }, { heartbeat: () => during.push(tf.getBackend()) }));
    expect(wasmBuild()).toEqual({ simd: false, threads: 1 });
    expect(new Set(during)).toEqual(new Set(['wasm']));
    await expect(wasm.measureOp!(tiny, ctx({ threads: 4, simd: true, ...timing }))).rejects.toThrow(/threads: 4 is not supported in Node/);
    expect(tf.getBackend()).toBe('tensorflow');
  });

  test('concurrent measurements on two backends are serialised: each runs wholly on its own', async () => {
    const onWasm: string[] = [];
    const onCpu: string[] = [];
    await Promise.all([
      wasm.measureOp!(tiny, ctx({ threads: 1, simd: true, ...timing }, { heartbeat: () => onWasm.push(tf.getBackend()) })),
      nodeCpu.measureOp!(tiny, ctx({ backend: 'tensorflow' as const, ...timing }, { heartbeat: () => onCpu.push(tf.getBackend()) })),
      wasm.measureOp!(tiny, ctx({ threads: 1, simd: false, ...timing }, { heartbeat: () => onWasm.push(tf.getBackend()) })),
    ]);
    expect(new Set(onWasm)).toEqual(new Set(['wasm']));
    expect(new Set(onCpu)).toEqual(new Set(['tensorflow']));
    expect(tf.getBackend()).toBe('tensorflow');
  });

  test('measureModel times a saved model on wasm', async () => {
    const model = buildOpModel(tiny);
    const modelDir = join(dir, 'op-model');
    await model.save(`file://${modelDir}`);
    model.dispose();
    const during: string[] = [];
    const m = await wasm.measureModel!(modelDir, [8, 8, 8], ctx({ threads: 1, simd: true, ...timing }, { heartbeat: () => during.push(tf.getBackend()) }));
    expect(new Set(during)).toEqual(new Set(['wasm']));
    expect(m.medianMs).toBeGreaterThan(0);
  });
});

describe('lut', () => {
  const known = tiny;
  const unknown: OpSignature = { ...tiny, kernel: 5 };
  const table: OpLatencyTable = { target: 'phone', entries: [{ key: opKey(known), medianMs: 2, p90Ms: 3, repeats: 50 }] };
  let file: string;
  beforeAll(() => {
    file = join(dir, 'phone.json');
    writeFileSync(file, JSON.stringify(table));
  });

  test('looks ops up by key in a file', async () => {
    expect(await lut.measureOp!(known, ctx({ table: file, missing: 'error' as const }))).toEqual({ medianMs: 2, p90Ms: 3, repeats: 50 });
  });

  test('a missing op fails by default, or is estimated at the table\'s own ms per MAC', async () => {
    await expect(lut.measureOp!(unknown, ctx({ table: file, missing: 'error' as const }))).rejects.toThrow(/has no entry for 1 op\(s\): mbconv_8x8x8_o8_k5_s1_e3_se1/);
    const m = await lut.measureOp!(unknown, ctx({ table: file, missing: 'macs' as const }));
    expect(m.medianMs).toBeCloseTo((2 * opMacs(unknown)) / opMacs(known), 12);
    expect(m.repeats).toBe(0);
  });

  test('reads a table by artifact key through readArtifact', async () => {
    const readArtifact = async (key: string) => {
      expect(key).toBe('latency-tables/node-cpu/abc.json');
      return new TextEncoder().encode(JSON.stringify(table));
    };
    const m = await lut.measureOp!(known, ctx({ table: 'latency-tables/node-cpu/abc.json', missing: 'error' as const }, { readArtifact }));
    expect(m.medianMs).toBe(2);
  });

  test('measureModel sums the entries of the ops a saved model is made of', async () => {
    const space = SearchSpaceSchema.parse({
      stem: { channels: 8, stride: 1 },
      stages: [{ channels: 8, repeats: 2, stride: 2, kernels: [3, 5], expansions: [1, 3], skip: true }],
      head: { channels: 16 },
    });
    const dims = { resolution: 8, inputChannels: 1, numClasses: 3 };
    const ops = enumerateSpaceOps(space, { inputResolution: 8, inputChannels: 1, numClasses: 3 });
    const choices = [3, 1];
    const model = buildArchModel(archFromChoices(space, choices, dims), { inferenceOnly: true });
    const expectedOps = [ops.fixed[0], ops.decisions[0].options[3]!, ops.decisions[1].options[1]!, ...ops.fixed.slice(1)];
    expect(opsOfModel(model)).toEqual(expectedOps);
    const modelDir = join(dir, 'arch-model');
    await model.save(`file://${modelDir}`);
    model.dispose();
    // Every op of the space at 1 ms + its index, so the sum identifies exactly which ops were used.
    const all = distinctOps(ops);
    const priced: OpLatencyTable = { target: 'fake', entries: all.map((o, i) => ({ key: opKey(o), medianMs: 1 + i })) };
    const pricedFile = join(dir, 'priced.json');
    writeFileSync(pricedFile, JSON.stringify(priced));
    const m = await lut.measureModel!(modelDir, [8, 8, 1], ctx({ table: pricedFile, missing: 'error' as const }));
    const index = new Map(all.map((o, i) => [opKey(o), i]));
    expect(m.medianMs).toBe(expectedOps.reduce((s, o) => s + 1 + index.get(opKey(o))!, 0));
  });
});
