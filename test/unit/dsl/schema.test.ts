import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipelineFile, parsePipelineText, resolvePipelineFile } from '../../../dsl/load';
import { pipelineJsonSchemaText, PIPELINE_SCHEMA_PATH } from '../../../dsl/json-schema';
import { decisionsOf, decodeChoices, spaceShape } from '../../../dsl/search-space';

const root = join(__dirname, '../..', '..');
const examples = readdirSync(join(root, 'examples'))
  .filter((f) => /\.(ya?ml|json)$/.test(f) || f === 'typed-pipeline.ts')
  .map((f) => join('examples', f));

describe('example pipelines', () => {
  it.each(examples)('%s is valid', (file) => {
    expect(() => loadPipelineFile(join(root, file))).not.toThrow();
  });

  it('cover every stage between them', () => {
    const stages = new Set(examples.flatMap((f) => Object.keys(loadPipelineFile(join(root, f)).stages)));
    expect([...stages].sort()).toEqual(['baselineSearch', 'compoundScaling', 'elasticTraining', 'evaluation', 'train']);
  });

  it.each(examples.filter((f) => !f.endsWith('.ts')))('%s references the JSON Schema', (file) => {
    expect(readFileSync(join(root, file), 'utf8')).toContain('../schema/pipeline.schema.json');
  });
});

describe('defaults', () => {
  const minimal = 'version: 1\nname: tiny\ndataset: { name: fashion-mnist }\nstages:\n  baselineSearch: {}\n';

  it('fills every default of a minimal search pipeline', () => {
    const p = parsePipelineText(minimal, 'tiny.yaml');
    expect(p.seed).toBe(1);
    expect(p.dataset).toEqual({ name: 'fashion-mnist', resolution: 28, validationFraction: 0.1 });
    expect(p.artifacts.location).toBeUndefined();
    expect(p.searchSpace.inputResolution).toBe(28);
    expect(p.searchSpace.stages).toHaveLength(7);
    expect(p.searchSpace.stages[1]).toEqual({ channels: 24, repeats: 2, stride: 2, kernels: [3, 5, 7], expansions: [3, 6], se: [true], skip: true });
    expect(p.stages.baselineSearch!.strategy).toEqual({
      plugin: 'proxyless-gradient',
      config: { archLearningRate: 0.006, archWeightDecay: 0, sampledPaths: 2, weightStepsPerArchStep: 1 },
    });
    expect(p.stages.baselineSearch!.target).toBeUndefined();
    expect(p.plugins).toEqual([]);
  });

  it('fills plugin config defaults from the plugin schema', () => {
    const p = parsePipelineText(
      `${minimal}hardwareTargets:\n  cpu: { plugin: node-cpu, config: { repeats: 7 } }\n`,
      'tiny.yaml',
    );
    expect(p.hardwareTargets.cpu.config).toEqual({ backend: 'tensorflow', batchSize: 1, warmupRuns: 5, repeats: 7 });
    expect(p.stages.baselineSearch!.target).toBe('cpu');
  });

  it('keeps the train stage as the run command reads it', () => {
    const p = loadPipelineFile(join(root, 'examples', 'train-small-cnn.yaml'));
    expect(p.stages.train).toEqual({
      model: { kind: 'small-cnn', filters: 16 },
      epochs: 2,
      batchSize: 128,
      learningRate: 0.002,
      optimizer: 'adam',
      momentum: 0.9,
      checkpointEverySteps: 100,
      heartbeatTimeoutSeconds: 30,
    });
    expect(p.dataset.path).toBeUndefined();
  });

  it('derives the resolution from the data set', () => {
    const p = parsePipelineText('version: 1\nname: c\ndataset: { name: cifar10, path: d }\nstages: { baselineSearch: {} }\n', 'c.yaml');
    expect(p.searchSpace.inputResolution).toBe(32);
  });
});

describe('search space decisions', () => {
  const space = parsePipelineText(
    'version: 1\nname: s\ndataset: { name: fashion-mnist }\nsearchSpace:\n  stages:\n    - { channels: 8, repeats: 1, kernels: [3], expansions: [1] }\n    - { channels: 16, repeats: 2, kernels: [3, 5], expansions: [3, 6], se: [true, false], skip: true }\nstages: { baselineSearch: {} }\n',
    's.yaml',
  ).searchSpace;

  it('has one decision per block, with zero only after the first block of a stage', () => {
    expect(decisionsOf(space).map((d) => d.id)).toEqual(['s1b1', 's2b1', 's2b2']);
    expect(spaceShape(space).options).toEqual([1, 8, 9]);
    expect(decodeChoices(space, [0, 0, 8]).map((c) => c.option)).toEqual([{ kernel: 3, expansion: 1, se: true }, { kernel: 3, expansion: 3, se: true }, 'zero']);
    expect(() => decodeChoices(space, [0, 8, 0])).toThrow('s2b1');
  });
});

describe('JSON Schema', () => {
  it(`${PIPELINE_SCHEMA_PATH} is up to date (run npm run schema)`, () => {
    expect(readFileSync(join(root, PIPELINE_SCHEMA_PATH), 'utf8')).toBe(pipelineJsonSchemaText());
  });

  it('documents fields and offers built-in plugin configs to editors', () => {
    const schema = JSON.parse(pipelineJsonSchemaText());
    const search = schema.properties.stages.properties.baselineSearch.properties;
    expect(search.latencyWeight.description).toMatch(/lambda/);
    const names = search.strategy.anyOf.map((b: { properties: { plugin: { const?: string } } }) => b.properties.plugin.const);
    expect(names).toEqual(['proxyless-gradient', 'proxyless-reinforce', 'random', 'regularized-evolution', 'successive-halving', undefined]);
  });
});

describe('resolvePipelineFile', () => {
  it('returns the registry with built-ins and declared plugins', () => {
    const loaded = resolvePipelineFile(join(root, 'test', 'fixtures', 'custom-plugin.yaml'));
    expect(loaded.userPlugins.map((p) => p.name)).toEqual(['hill-climb']);
    expect(loaded.plugins.get('search-strategy', 'hill-climb')).toBeDefined();
    expect(loaded.plugins.get('hardware-target', 'macs')).toBeDefined();
    expect(loaded.pipeline.stages.baselineSearch!.strategy.config).toEqual({ trials: 4 });
  });
});
