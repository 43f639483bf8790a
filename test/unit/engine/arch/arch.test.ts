import { decodeBlock, encodeBlock } from '../../../../engine/arch/block-string';
import { resolveArch } from '../../../../cli/arch-file';
import { ArchError, parseArch } from '../../../../engine/arch/catalog';
import { EFFICIENTNET_VARIANTS, efficientNet } from '../../../../engine/arch/efficientnet';
import { mobileNetV2 } from '../../../../engine/arch/mobilenet-v2';
import { makeDivisible, roundFilters, roundRepeats } from '../../../../engine/arch/rounding';
import { adaptToSmallInput } from '../../../../engine/arch/small-input';
import { archJsonSchema, ArchSpecSchema, unrollBlocks } from '../../../../engine/arch/spec';

describe('rounding (official round_filters / round_repeats)', () => {
  it('rounds channels to the nearest multiple of 8, never losing more than 10%', () => {
    expect(roundFilters(32, 1.0)).toBe(32);
    expect(roundFilters(32, 1.1)).toBe(32); // 35.2 -> 32, and 32 >= 0.9 * 35.2
    expect(roundFilters(16, 1.4)).toBe(24); // 22.4 -> 24
    expect(roundFilters(32, 1.4)).toBe(48); // 44.8 -> 48
    expect(roundFilters(1280, 1.1)).toBe(1408);
    expect(roundFilters(24, 1.8)).toBe(40); // 43.2 -> 40, which keeps more than 90%
    expect(makeDivisible(10, 8)).toBe(16); // 8 < 0.9 * 10 -> bumped
    expect(makeDivisible(3, 8)).toBe(8); // min_depth
  });
  it('rounds repeats up', () => {
    expect(roundRepeats(2, 1.1)).toBe(3);
    expect(roundRepeats(1, 1.1)).toBe(2);
    expect(roundRepeats(4, 3.1)).toBe(13);
    expect(roundRepeats(3, 1.0)).toBe(3);
  });
});

describe('block strings', () => {
  it('round-trips', () => {
    const b = decodeBlock('e6_k5_s2_c40_se0.25');
    expect(b).toEqual({ expansion: 6, kernel: 5, stride: 2, outChannels: 40, seRatio: 0.25, repeats: 1 });
    expect(encodeBlock(b)).toBe('e6_k5_s2_c40_se0.25');
    expect(encodeBlock(decodeBlock('ir_r3_k3_s2_e6_c80_se0.25'))).toBe('e6_k3_s2_c80_se0.25_r3');
    expect(encodeBlock(decodeBlock('e1_k3_s1_c16'))).toBe('e1_k3_s1_c16');
  });
  it('says what is wrong', () => {
    expect(() => decodeBlock('e6_k4_s2_c40')).toThrow(/kernel must be odd/);
    expect(() => decodeBlock('e6_k3_s3_c40')).toThrow(/stride/);
    expect(() => decodeBlock('e6_k3_s2')).toThrow(/"c" \(outChannels\) is missing/);
    expect(() => decodeBlock('e6_x3_s2_c4')).toThrow(/cannot read "x3"/);
  });
});

describe('architecture descriptions', () => {
  it('EfficientNet variants follow the paper tuples through the rounding functions', () => {
    const b0 = efficientNet('b0');
    expect(b0.blocks.map(encodeBlock)).toEqual([
      'e1_k3_s1_c16_se0.25', 'e6_k3_s2_c24_se0.25_r2', 'e6_k5_s2_c40_se0.25_r2', 'e6_k3_s2_c80_se0.25_r3',
      'e6_k5_s1_c112_se0.25_r3', 'e6_k5_s2_c192_se0.25_r4', 'e6_k3_s1_c320_se0.25',
    ]);
    expect([b0.stem.channels, b0.headChannels, b0.resolution, b0.dropout]).toEqual([32, 1280, 224, 0.2]);
    const b7 = efficientNet('b7');
    expect([b7.stem.channels, b7.headChannels, b7.resolution, b7.dropout]).toEqual([64, 2560, 600, 0.5]);
    expect(b7.blocks.map((b) => b.repeats)).toEqual([4, 7, 7, 10, 10, 13, 4]);
    expect(Object.keys(EFFICIENTNET_VARIANTS)).toHaveLength(8);
    for (const v of Object.keys(EFFICIENTNET_VARIANTS) as (keyof typeof EFFICIENTNET_VARIANTS)[]) {
      expect(ArchSpecSchema.safeParse(efficientNet(v)).success).toBe(true);
    }
  });
  it('MobileNetV2 1.0 is the paper table', () => {
    const m = mobileNetV2();
    expect(m.blocks.map(encodeBlock)).toEqual(['e1_k3_s1_c16', 'e6_k3_s2_c24_r2', 'e6_k3_s2_c32_r3', 'e6_k3_s2_c64_r4', 'e6_k3_s1_c96_r3', 'e6_k3_s2_c160_r3', 'e6_k3_s1_c320']);
    expect(m.activation).toBe('relu6');
    expect(mobileNetV2(0.35).headChannels).toBe(1280);
  });
  it('unrolls repeats: stride on the first copy only, channels chained', () => {
    const u = unrollBlocks(efficientNet('b0'));
    expect(u).toHaveLength(16);
    expect(u[1]).toMatchObject({ inChannels: 16, outChannels: 24, stride: 2 });
    expect(u[2]).toMatchObject({ inChannels: 24, outChannels: 24, stride: 1 });
  });
  it('adapts to 28x28 by dropping the stem stride and all but the first downsamplings', () => {
    const a = adaptToSmallInput(efficientNet('b0', 10), { resolution: 28, inputChannels: 1, numClasses: 10, downsamplings: 2 });
    expect(a.stem.stride).toBe(1);
    expect(a.blocks.map((b) => b.stride)).toEqual([1, 2, 2, 1, 1, 1, 1]);
  });
  it('parses arch.json with object or string blocks and reports paths in errors', () => {
    const a = parseArch({ resolution: 32, stem: { channels: 8 }, blocks: ['e1_k3_s1_c8', { expansion: 6, kernel: 5, stride: 2, outChannels: 16 }], headChannels: null });
    expect(a.blocks[1]).toMatchObject({ seRatio: 0, repeats: 1 });
    expect(a.batchNorm).toEqual({ momentum: 0.99, epsilon: 1e-3 });
    expect(() => parseArch({ resolution: 32, stem: { channels: 8 }, blocks: [], headChannels: null }, 'x.json')).toThrow(/x.json is not a valid architecture:\n {2}blocks:/);
    expect(() => parseArch({ resolution: 32, stem: { channels: 8 }, blocks: ['e6_k2_s1_c8'], headChannels: null }, 'x.json')).toThrow(/blocks\[0\]/);
    expect(() => resolveArch('resnet-50')).toThrow(ArchError);
  });
  it('publishes a JSON Schema from the same zod object', () => {
    const schema = archJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['stem', 'blocks', 'headChannels', 'resolution']));
    expect(schema.required).toEqual(expect.arrayContaining(['resolution', 'stem', 'blocks', 'headChannels']));
  });
});
