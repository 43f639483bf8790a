import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../../../../engine/backend';
import { efficientNet, EFFICIENTNET_VARIANTS } from '../../../../engine/arch/efficientnet';
import { mobileNetV2 } from '../../../../engine/arch/mobilenet-v2';
import type { ArchSpecInput } from '../../../../engine/arch/spec';
import { blockContext } from '../../../../engine/blocks/context';
import { mbconv } from '../../../../engine/blocks/mbconv';
import { seededDropout } from '../../../../engine/blocks/seeded-dropout';
import { countLayerMacs, countMacs } from '../../../../engine/latency/macs';
import { buildArchModel, toInferenceModel } from '../../../../engine/models/arch-model';
import { countParams } from '../../../../engine/models/param-count';

const tf = loadTf();

/** A tiny network that has every layer type the builders use. */
const TINY: ArchSpecInput = {
  name: 'tiny',
  resolution: 8,
  inputChannels: 1,
  numClasses: 3,
  stem: { channels: 8, kernel: 3, stride: 1 },
  blocks: [
    { expansion: 1, kernel: 3, stride: 1, outChannels: 8, seRatio: 0.25 },
    { expansion: 4, kernel: 5, stride: 2, outChannels: 12, seRatio: 0.25, repeats: 2 },
  ],
  headChannels: 16,
  dropout: 0.2,
  dropConnect: 0.5,
};

describe('MBConv block', () => {
  it('has the hand-computed shapes and parameters (e6 k3 s2, 16 -> 24, SE 0.25 of the input)', () => {
    const ctx = blockContext({ seed: 3 });
    const input = tf.input({ shape: [8, 8, 16] });
    const out = mbconv(ctx, input, { inChannels: 16, outChannels: 24, expansion: 6, kernel: 3, stride: 2, seRatio: 0.25, activation: 'swish', dropConnect: 0.2, name: 'b' });
    const model = tf.model({ inputs: input, outputs: out });
    expect(out.shape).toEqual([null, 4, 4, 24]);
    const byName = Object.fromEntries(model.layers.map((l) => [l.name, l.countParams()]));
    expect(byName.b_expand_conv).toBe(16 * 96);
    expect(byName.b_expand_bn).toBe(4 * 96);
    expect(byName.b_dw_dwconv).toBe(9 * 96);
    expect(byName.b_se_reduce).toBe(96 * 4 + 4); // reduces to int(16 * 0.25) = 4, not 96 / 4
    expect(byName.b_se_expand).toBe(4 * 96 + 96);
    expect(byName.b_project_conv).toBe(96 * 24);
    expect(model.countParams()).toBe(1536 + 384 + 864 + 384 + 388 + 480 + 2304 + 96);
    // Stride 2: no shortcut, so no drop-connect either.
    expect(model.layers.some((l) => l.getClassName() === 'SeededDropout' || l.getClassName() === 'Add')).toBe(false);
  });
  it('adds the shortcut (with drop-connect) only for stride 1 and equal channels', () => {
    const ctx = blockContext({ seed: 3 });
    const input = tf.input({ shape: [4, 4, 8] });
    const out = mbconv(ctx, input, { inChannels: 8, outChannels: 8, expansion: 1, kernel: 3, stride: 1, seRatio: 0, activation: 'relu6', dropConnect: 0.2, name: 'b' });
    const layers = tf.model({ inputs: input, outputs: out }).layers;
    expect(layers.map((l) => l.getClassName())).toEqual(expect.arrayContaining(['SeededDropout', 'Add']));
    // Expansion 1: no expand conv, as in MobileNetV2's and EfficientNet's first block.
    expect(layers.map((l) => l.name)).not.toContain('b_expand_conv');
  });
});

describe('seeded dropout and drop-connect', () => {
  const x = () => tf.ones([16, 2, 2, 3]);
  it('is the identity at inference and reproducible per noise step in training', () => {
    const layer = seededDropout({ rate: 0.5, perExample: true, seed: 9 });
    const a = layer.apply(x(), { training: true, noiseStep: 4 }) as Tensor;
    const b = layer.apply(x(), { training: true, noiseStep: 4 }) as Tensor;
    const c = layer.apply(x(), { training: true, noiseStep: 5 }) as Tensor;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    // Per example: every value of an example is 0 or 1/keep together.
    const v = a.arraySync() as number[][][][];
    for (const ex of v) expect(new Set(ex.flat(2)).size).toBe(1);
    expect(new Set(a.dataSync())).toEqual(new Set([0, 2]));
    expect(Array.from((layer.apply(x(), { training: false }) as Tensor).dataSync())).toEqual(new Array(16 * 2 * 2 * 3).fill(1));
  });
});

describe('builders against the published figures', () => {
  const built: LayersModel[] = [];
  afterAll(() => built.forEach((m) => m.dispose()));
  const build = (a: Parameters<typeof buildArchModel>[0]) => {
    const m = buildArchModel(a, { zeroInit: true });
    built.push(m);
    return m;
  };

  it('EfficientNet-B0 at 224: 5.29M parameters, 0.39B multiply-adds', () => {
    const m = build(efficientNet('b0'));
    // Keras EfficientNetB0 (without its 7-parameter input Normalization layer) and timm.
    expect(countParams(m)).toEqual({ trainable: 5_288_548, nonTrainable: 42_016, total: 5_330_564 });
    expect(countMacs(m)).toBe(385_814_752);
    expect(Math.abs(countMacs(m) / 0.39e9 - 1)).toBeLessThan(0.015);
    expect(m.outputs[0].shape).toEqual([null, 1000]);
  });

  it('MobileNetV2 1.0 at 224: 3.50M trainable parameters, 300M multiply-adds', () => {
    const m = build(mobileNetV2());
    // Keras MobileNetV2(alpha=1.0) summary: 3,538,984 total, 3,504,872 trainable.
    expect(countParams(m)).toEqual({ trainable: 3_504_872, nonTrainable: 34_112, total: 3_538_984 });
    expect(Math.abs(countMacs(m) / 300e6 - 1)).toBeLessThan(0.01);
  });

  it('B1..B7 match the paper table within its rounding (and B4/B5 MACs within 6%)', () => {
    // Paper Table 2: params (M) and FLOPS (B multiply-adds).
    const paper: Record<string, [number, number]> = { b1: [7.8, 0.7], b2: [9.2, 1.0], b3: [12, 1.8], b4: [19, 4.2], b5: [30, 9.9], b6: [43, 19], b7: [66, 37] };
    for (const v of Object.keys(paper) as (keyof typeof EFFICIENTNET_VARIANTS)[]) {
      const m = build(efficientNet(v));
      const params = countParams(m).trainable / 1e6;
      const macs = countMacs(m) / 1e9;
      expect(Math.abs(params / paper[v][0] - 1)).toBeLessThan(0.025);
      expect(Math.abs(macs / paper[v][1] - 1)).toBeLessThan(0.06);
      m.dispose();
      built.pop();
    }
  });

  it('builds any resolution and class count, and counts SE gating only on request', () => {
    const m = build({ ...efficientNet('b0'), resolution: 96, numClasses: 7 });
    expect(m.outputs[0].shape).toEqual([null, 7]);
    const extra = countMacs(m, { elementwise: true }) - countMacs(m);
    // Each SE gate multiplies H*W*C of its block's depthwise output.
    const gates = m.layers.filter((l) => l.getClassName() === 'Multiply');
    expect(gates).toHaveLength(16);
    const direct = gates.reduce((s, l) => s + (l.outputShape as number[]).slice(1).reduce((a, b) => a * b, 1), 0);
    expect(extra).toBe(direct);
  });
});

describe('MACs counter against a direct count', () => {
  /** Brute force: one multiply-accumulate per (output element, kernel tap, input channel in its group). */
  function directConvMacs(h: number, w: number, cin: number, cout: number, k: number, stride: number, depthwise: boolean): number {
    const oh = Math.ceil(h / stride);
    const ow = Math.ceil(w / stride);
    let n = 0;
    for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) for (let o = 0; o < cout; o++) for (let t = 0; t < k * k; t++) n += depthwise ? 1 : cin;
    return n;
  }

  it('counts every weight-multiplying layer of a tiny network', () => {
    const m = buildArchModel(TINY, { zeroInit: true });
    const layers = Object.fromEntries(countLayerMacs(m).map((l) => [l.name, l.macs]));
    const expected: Record<string, number> = {
      stem_conv: directConvMacs(8, 8, 1, 8, 3, 1, false),
      block1a_dw_dwconv: directConvMacs(8, 8, 8, 8, 3, 1, true),
      block1a_se_reduce: directConvMacs(1, 1, 8, 2, 1, 1, false),
      block1a_se_expand: directConvMacs(1, 1, 2, 8, 1, 1, false),
      block1a_project_conv: directConvMacs(8, 8, 8, 8, 1, 1, false),
      block2a_expand_conv: directConvMacs(8, 8, 8, 32, 1, 1, false),
      block2a_dw_dwconv: directConvMacs(8, 8, 32, 32, 5, 2, true),
      block2a_se_reduce: directConvMacs(1, 1, 32, 2, 1, 1, false),
      block2a_se_expand: directConvMacs(1, 1, 2, 32, 1, 1, false),
      block2a_project_conv: directConvMacs(4, 4, 32, 12, 1, 1, false),
      block2b_expand_conv: directConvMacs(4, 4, 12, 48, 1, 1, false),
      block2b_dw_dwconv: directConvMacs(4, 4, 48, 48, 5, 1, true),
      block2b_se_reduce: directConvMacs(1, 1, 48, 3, 1, 1, false),
      block2b_se_expand: directConvMacs(1, 1, 3, 48, 1, 1, false),
      block2b_project_conv: directConvMacs(4, 4, 48, 12, 1, 1, false),
      head_conv: directConvMacs(4, 4, 12, 16, 1, 1, false),
      predictions: 16 * 3,
    };
    for (const [name, macs] of Object.entries(expected)) expect([name, layers[name]]).toEqual([name, macs]);
    const rest = Object.entries(layers).filter(([n]) => !(n in expected));
    expect(rest.every(([, v]) => v === 0)).toBe(true);
    expect(countMacs(m)).toBe(Object.values(expected).reduce((a, b) => a + b, 0));
    m.dispose();
  });
});

describe('serialization', () => {
  it('round-trips through the tfjs topology format with the same outputs; the inference model has built-in layers only', async () => {
    const m = buildArchModel(TINY, { seed: 5 });
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 3);
    const before = (m.predict(x) as Tensor).dataSync();
    // The topology goes through the same (de)serializer as model.save / loadLayersModel; the weight
    // files themselves are not written because jest's sandbox realm breaks tfjs's typed-array checks.
    const loaded = await tf.models.modelFromJSON({ modelTopology: m.toJSON(null, false) as never });
    loaded.setWeights(m.getWeights());
    expect(Array.from((loaded.predict(x) as Tensor).dataSync())).toEqual(Array.from(before));

    const inference = toInferenceModel(TINY, m);
    expect(JSON.stringify(inference.toJSON(null, false))).not.toContain('SeededDropout');
    expect(JSON.stringify(m.toJSON(null, false))).toContain('SeededDropout');
    expect(Array.from((inference.predict(x) as Tensor).dataSync())).toEqual(Array.from(before));
    tf.dispose([x]);
    [m, loaded, inference].forEach((mm) => mm.dispose());
  });
});
