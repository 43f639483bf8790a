/**
 * A search space of 3 decisions and the MACs proxy as its target, as pipeline YAML: small enough
 * that trials and supernet epochs take seconds, for the integration tests that run searches.
 */
export const TINY_SEARCH_SPACE_YAML = `searchSpace:
  stem: { channels: 8, stride: 2 }
  stages:
    - { channels: 8, repeats: 1, kernels: [3], expansions: [1] }
    - { channels: 16, repeats: 2, stride: 2, kernels: [3, 5], expansions: [2, 4], skip: true }
  head: { channels: 32, dropout: 0 }
hardwareTargets:
  proxy: { plugin: macs }
`;
