import { decisionsOf, SearchSpaceSchema } from '../../../../dsl/search-space';
import { decodeBlock, encodeBlock } from '../../../../engine/arch/block-string';
import { archFromChoices, choicesFromBlocks } from '../../../../engine/arch/from-choices';

const space = SearchSpaceSchema.parse({
  inputResolution: 28,
  stem: { channels: 16, kernel: 3, stride: 2 },
  stages: [
    { channels: 16, repeats: 2, stride: 1, kernels: [3, 5, 7], expansions: [3, 6], se: [false], skip: true },
    { channels: 24, repeats: 3, stride: 2, kernels: [3, 5, 7], expansions: [3, 6], se: [false, true], skip: true },
  ],
  head: { channels: 64, dropout: 0 },
});
const dims = { resolution: 28, inputChannels: 1, numClasses: 10 };
const blocksOf = (choices: number[]) => archFromChoices(space, choices, dims).blocks;

describe('choicesFromBlocks', () => {
  it('gives back the choices of a net whose zero ops end their stages', () => {
    for (const choices of [
      [0, 1, 0, 5, 11],
      [5, 6, 11, 12, 12],
      [2, 3, 7, 0, 12],
    ]) {
      expect(choicesFromBlocks(space, blocksOf(choices))).toEqual(choices);
    }
  });

  it('moves a zero op inside a stage to its end: the same blocks, the stage-first placement', () => {
    const zeroInside = [1, 6, 4, 12, 3];
    const back = choicesFromBlocks(space, blocksOf(zeroInside))!;
    expect(back).toEqual([1, 6, 4, 3, 12]);
    expect(blocksOf(back)).toEqual(blocksOf(zeroInside));
  });

  it('reads the block strings the experiments log', () => {
    const blocks = 'e6_k3_s1_c16 e3_k5_s2_c24 e6_k7_s1_c24_se0.25'.split(' ').map(decodeBlock);
    const choices = choicesFromBlocks(space, blocks)!;
    expect(blocksOf(choices).map(encodeBlock).join(' ')).toBe('e6_k3_s1_c16 e3_k5_s2_c24 e6_k7_s1_c24_se0.25');
    expect(choices).toHaveLength(decisionsOf(space).length);
  });

  it('is undefined for a net the space cannot build', () => {
    const read = (s: string) => choicesFromBlocks(space, s.split(' ').map(decodeBlock));
    expect(read('e6_k3_s1_c16 e3_k9_s2_c24')).toBeUndefined(); // no such kernel
    expect(read('e6_k3_s1_c16 e4_k3_s2_c24')).toBeUndefined(); // no such expansion
    expect(read('e6_k3_s1_c16 e3_k3_s1_c24')).toBeUndefined(); // a stage's first block keeps the stage's stride
    expect(read('e6_k3_s1_c16 e3_k3_s2_c24 e3_k3_s1_c24 e3_k3_s1_c24 e3_k3_s1_c24')).toBeUndefined(); // four blocks in a stage of three
    expect(read('e3_k3_s2_c24')).toBeUndefined(); // a stage without its mandatory first block
    expect(read('e6_k3_s1_c16 e3_k3_s2_c24 e3_k3_s1_c40')).toBeUndefined(); // channels of no stage
    expect(read('e6_k3_s1_c16_r2 e3_k3_s2_c24')).toBeUndefined(); // repeats are unrolled in a choice vector
  });
});
