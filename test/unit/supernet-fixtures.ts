/** The small search space both supernet suites use: skips, two kernels, expansions and an SE choice. */
import { decisionsOf, SearchSpaceSchema } from '../../dsl/search-space';

export const space = SearchSpaceSchema.parse({
  inputResolution: 8,
  stem: { channels: 4, stride: 1 },
  stages: [
    { channels: 4, repeats: 2, stride: 1, kernels: [3, 5], expansions: [1, 2], skip: true },
    { channels: 8, repeats: 2, stride: 2, kernels: [3], expansions: [2, 3], se: [true, false], skip: true },
  ],
  head: { channels: 8, dropout: 0 },
});

export const decisions = decisionsOf(space);
