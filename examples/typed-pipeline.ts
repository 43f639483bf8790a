/**
 * A pipeline as a TypeScript module: the editor type-checks it as you write, and it can compute
 * values (here, the search space) in code. Check it with: nas validate examples/typed-pipeline.ts
 */
import { definePipeline } from '../dsl/define';

const widths = [16, 24, 40, 80];

export default definePipeline({
  version: 1,
  name: 'typed-pipeline',
  seed: 11,
  dataset: { name: 'fashion-mnist' },
  searchSpace: {
    stem: { channels: 16, stride: 1 },
    stages: widths.map((channels, i) => ({
      channels,
      repeats: i === 0 ? 1 : 2,
      stride: i === 0 ? 1 : 2,
      kernels: [3, 5],
      expansions: i === 0 ? [1] : [3, 6],
      skip: i > 0,
    })),
  },
  hardwareTargets: { cpu: { plugin: 'node-cpu' } },
  stages: {
    baselineSearch: { strategy: { plugin: 'regularized-evolution', config: { population: 10, trials: 40 } }, epochs: 2 },
    evaluation: { repeats: 20 },
  },
});
