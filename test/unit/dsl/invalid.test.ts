import { parsePipelineText } from '../../../dsl/load';
import { formatProblem } from '../../../dsl/problems';
import { problemsOf } from '../../support/dsl-helpers';
import { workflowInput } from '../../../cli/plan';
import { unrunnable } from '../../../workflows/plan';
import { builtinRegistry } from '../../../plugins/registry';

// Every line of this valid pipeline is a known number, so each case below swaps one line and
// asserts the exact path and line of the problem it causes.
const BASE = [
  'version: 1', // 1
  'name: full', // 2
  'seed: 5', // 3
  'dataset:', // 4
  '  name: fashion-mnist', // 5
  '  resolution: 28', // 6
  'searchSpace:', // 7
  '  inputResolution: 28', // 8
  '  stem: { channels: 16, stride: 1 }', // 9
  '  stages:', // 10
  '    - { channels: 16, repeats: 1, kernels: [3], expansions: [1] }', // 11
  '    - { channels: 24, repeats: 2, stride: 2, skip: true }', // 12
  '  head: { channels: 256, dropout: 0.2 }', // 13
  'hardwareTargets:', // 14
  '  cpu: { plugin: node-cpu, config: { repeats: 10 } }', // 15
  '  web: { plugin: wasm }', // 16
  'stages:', // 17
  '  baselineSearch:', // 18
  '    strategy: { plugin: random, config: { trials: 8 } }', // 19
  '    epochs: 2', // 20
  '    latencyWeight: 0.1', // 21
  '    target: cpu', // 22
  '  compoundScaling:', // 23
  '    phis: [1, 2]', // 24
  '    costRatio: 2', // 25
  '  elasticTraining:', // 26
  '    policy: dynamic-sgd', // 27
  '    workers: { min: 1, max: 4 }', // 28
  '  evaluation:', // 29
  '    targets: [cpu, web]', // 30
  '  train:', // 31
  '    optimizer: adam', // 32
  'artifacts:', // 33
  '  location: .nas/artifacts', // 34
  'plugins: []', // 35
];

function withLine(line: number, text: string): string {
  const lines = [...BASE];
  lines[line - 1] = text;
  return lines.join('\n') + '\n';
}

it('the base pipeline is valid', () => {
  expect(() => parsePipelineText(BASE.join('\n'), 'full.yaml')).not.toThrow();
});

// [case, line, replacement, expected path, expected column, message fragment]
const CASES: [string, number, string, string, number, string][] = [
  ['version', 1, 'version: 2', 'version', 10, 'must be 1'],
  ['name pattern', 2, 'name: Full Pipeline', 'name', 7, 'lowercase letters'],
  ['seed type', 3, 'seed: lots', 'seed', 7, 'expected number, got "lots"'],
  ['seed range', 3, 'seed: -1', 'seed', 7, 'must be >= 0'],
  ['top-level unknown key', 3, 'sede: 5', 'sede', 1, 'did you mean "seed"'],
  ['dataset name', 5, '  name: fashion_mnist', 'dataset.name', 9, 'did you mean "fashion-mnist"'],
  ['dataset unknown key', 6, '  resolutoin: 28', 'dataset.resolutoin', 3, 'did you mean "resolution"'],
  ['dataset resolution', 6, '  resolution: 4', 'dataset.resolution', 15, 'must be >= 8'],
  ['input resolution', 8, '  inputResolution: 28.5', 'searchSpace.inputResolution', 20, 'expected int'],
  ['stem stride', 9, '  stem: { channels: 16, stride: 3 }', 'searchSpace.stem.stride', 33, 'must be one of: 1, 2'],
  ['stage kernel', 11, '    - { channels: 16, repeats: 1, kernels: [3, 9], expansions: [1] }', 'searchSpace.stages[0].kernels[1]', 48, 'must be one of: 3, 5, 7'],
  ['stage duplicate candidates', 11, '    - { channels: 16, repeats: 1, kernels: [3, 3], expansions: [1] }', 'searchSpace.stages[0].kernels', 44, 'list each candidate once'],
  ['stage missing channels', 12, '    - { repeats: 2, stride: 2, skip: true }', 'searchSpace.stages[1].channels', 7, 'required'],
  ['stage unknown key', 12, '    - { channels: 24, repeats: 2, stride: 2, skipp: true }', 'searchSpace.stages[1].skipp', 46, 'did you mean "skip"'],
  ['head dropout', 13, '  head: { channels: 256, dropout: 1.5 }', 'searchSpace.head.dropout', 35, 'must be <= 0.9'],
  ['unknown target plugin', 15, '  cpu: { plugin: node-gpu, config: { repeats: 10 } }', 'hardwareTargets.cpu.plugin', 18, 'unknown hardware target "node-gpu"'],
  ['target plugin config', 15, '  cpu: { plugin: node-cpu, config: { repeats: 0 } }', 'hardwareTargets.cpu.config.repeats', 47, 'must be >= 1'],
  ['target plugin config key', 15, '  cpu: { plugin: node-cpu, config: { repeat: 10 } }', 'hardwareTargets.cpu.config.repeat', 38, 'did you mean "repeats"'],
  ['target id', 16, '  Web: { plugin: wasm }', 'hardwareTargets.Web', 3, 'invalid key "Web"'],
  ['unknown strategy', 19, '    strategy: { plugin: evolution, config: { trials: 8 } }', 'stages.baselineSearch.strategy.plugin', 25, 'known: proxyless-gradient, proxyless-reinforce, random, regularized-evolution'],
  ['strategy config', 19, '    strategy: { plugin: random, config: { trials: 0 } }', 'stages.baselineSearch.strategy.config.trials', 51, 'must be >= 1'],
  ['strategy config refinement', 19, '    strategy: { plugin: regularized-evolution, config: { population: 4, sampleSize: 9 } }', 'stages.baselineSearch.strategy.config.sampleSize', 85, 'must not exceed population'],
  ['search epochs', 20, '    epochs: 0', 'stages.baselineSearch.epochs', 13, 'must be > 0'],
  ['latency weight', 21, '    latencyWeight: -0.1', 'stages.baselineSearch.latencyWeight', 20, 'must be >= 0'],
  ['search target reference', 22, '    target: gpu', 'stages.baselineSearch.target', 13, 'unknown hardware target "gpu" (declared: cpu, web)'],
  ['scaling phis', 24, '    phis: []', 'stages.compoundScaling.phis', 11, 'needs at least 1 item'],
  ['scaling cost ratio', 25, '    costRatio: 1', 'stages.compoundScaling.costRatio', 16, 'must be > 1'],
  ['scaling unknown key', 25, '    costratio: 2', 'stages.compoundScaling.costratio', 5, 'did you mean "costRatio"'],
  ['elastic policy', 27, '    policy: dynamic', 'stages.elasticTraining.policy', 13, 'must be one of: fixed-global-batch, immediate-linear, dynamic-sgd'],
  ['elastic workers', 28, '    workers: { min: 5, max: 4 }', 'stages.elasticTraining.workers.min', 21, 'must not exceed workers.max'],
  ['evaluation target reference', 30, '    targets: [cpu, tpu]', 'stages.evaluation.targets[1]', 20, 'unknown hardware target "tpu"'],
  ['unknown stage', 29, '  evaluate:', 'stages.evaluate', 3, 'did you mean "evaluation"'],
  ['train optimizer', 32, '    optimizer: sgd', 'stages.train.optimizer', 16, 'must be one of: adam, momentum'],
  ['artifacts location', 34, '  location: ""', 'artifacts.location', 13, 'must not be empty'],
  ['plugins list', 35, 'plugins: ./one.ts', 'plugins', 10, 'expected array'],
  ['missing plugin file', 35, 'plugins: [./nowhere.ts]', 'plugins[0]', 11, 'no plugin file at ./nowhere.ts'],
  // Locations as openArtifactStore reads them: refused here, at their line, not by nas run with a stack.
  ['artifacts location scheme', 34, '  location: gs://bucket', 'artifacts.location', 13, 'scheme "gs:" is not supported'],
  ['artifacts location without bucket', 34, '  location: "s3://"', 'artifacts.location', 13, 'not an S3 location: "s3://"'],
  ['artifacts location bucket name', 34, '  location: s3://Bad_Bucket/runs', 'artifacts.location', 13, 'invalid S3 bucket name "Bad_Bucket"'],
  ['artifacts location prefix', 34, '  location: s3://bucket/../runs', 'artifacts.location', 13, 'invalid S3 prefix in s3://bucket/../runs'],
  ['artifacts location relative file URL', 34, '  location: file://relative/runs', 'artifacts.location', 13, 'use file:///absolute/path or a plain folder path'],
  ['artifacts location NUL', 34, '  location: "runs\\0x"', 'artifacts.location', 13, 'must not contain NUL characters'],
  ['dataset path NUL', 6, '  path: "/data/fashion\\0x"', 'dataset.path', 9, 'must not contain NUL characters'],
  ['dataset path length', 6, `  path: /${'d'.repeat(5000)}`, 'dataset.path', 9, 'allows at most 4096 characters'],
  ['strategy plugin name length', 19, `    strategy: { plugin: ${'x'.repeat(300)} }`, 'stages.baselineSearch.strategy.plugin', 25, 'allows at most 200 characters'],
  ['plugin path NUL', 35, 'plugins: ["./p\\0.ts"]', 'plugins[0]', 11, 'must not contain NUL characters'],
];

describe.each(CASES)('%s', (_name, line, text, path, column, message) => {
  it(`reports ${path} at ${line}:${column}`, () => {
    const problems = problemsOf(() => parsePipelineText(withLine(line, text), '/tmp/nas-case/full.yaml'));
    const match = problems.find((p) => p.path === path);
    expect(match).toBeDefined();
    expect({ line: match!.line, column: match!.column }).toEqual({ line, column });
    expect(match!.message).toContain(message);
    expect(formatProblem(match!)).toMatch(new RegExp(`^/tmp/nas-case/full\\.yaml:${line}:${column}: `));
  });
});

describe('cross-stage rules', () => {
  const yaml = (stages: string) => `version: 1\nname: x\ndataset: { name: fashion-mnist }\nstages:\n${stages}`;

  it('needs at least one stage', () => {
    const [p] = problemsOf(() => parsePipelineText(yaml('  {}\n'), 'x.yaml'));
    expect(p).toMatchObject({ path: 'stages', line: 5, message: expect.stringContaining('at least one stage') });
  });

  it('scaling the search result needs a search', () => {
    const [p] = problemsOf(() => parsePipelineText(yaml('  compoundScaling: {}\n'), 'x.yaml'));
    expect(p).toMatchObject({ path: 'stages.compoundScaling.baseline', line: 5 });
  });

  it('elastic training alone trains its own model, which must be one it knows', () => {
    const alone = parsePipelineText(yaml('  elasticTraining: {}\n'), 'x.yaml');
    expect(alone.stages.elasticTraining?.model).toEqual({ kind: 'small-cnn', filters: 16 });
    const [p] = problemsOf(() => parsePipelineText(yaml('  elasticTraining: { model: { kind: resnet-50 } }\n'), 'x.yaml'));
    expect(p).toMatchObject({ path: 'stages.elasticTraining.model.kind', line: 5 });
  });

  it('a scaling latency limit needs a target; limits and the latency weight reach the workflow input', () => {
    const [p] = problemsOf(() => parsePipelineText(yaml('  compoundScaling: { baseline: efficientnet-b0, limits: { latencyMs: 5 } }\n'), 'x.yaml'));
    expect(p).toMatchObject({ path: 'stages.compoundScaling.target', message: 'a latency limit needs a hardware target to measure on' });
    const text = `version: 1\nname: x\ndataset: { name: fashion-mnist }\nhardwareTargets: { cpu: { plugin: macs } }\nstages:\n  compoundScaling: { baseline: efficientnet-b0, objective: accuracy-latency, target: cpu, latencyWeight: 0.2, limits: { latencyMs: 5, macs: 400000000 } }\n`;
    const loaded = { pipeline: parsePipelineText(text, 'x.yaml'), plugins: builtinRegistry(), file: 'x.yaml', userPlugins: [] };
    const scaling = workflowInput(loaded, 'r', '/tmp/a').stages.scaling!;
    expect(scaling.limits).toEqual({ latencyMs: 5, macs: 400000000 });
    expect(scaling.latency).toEqual({ weight: 0.2 });
    expect(scaling.target).toMatchObject({ id: 'cpu', plugin: 'macs' });
  });

  it('an absolute latency penalty needs a target latency; with one, the search input aims at it', () => {
    const search = (fields: string) => `version: 1\nname: x\ndataset: { name: fashion-mnist }\nhardwareTargets: { cpu: { plugin: macs } }\nstages:\n  baselineSearch: { ${fields} }\n`;
    const [p] = problemsOf(() => parsePipelineText(search('latencyPenalty: absolute'), 'x.yaml'));
    expect(p).toMatchObject({ path: 'stages.baselineSearch.targetLatencyMs', line: 6, message: expect.stringContaining('set targetLatencyMs') });
    const plan = (fields: string) => {
      const loaded = { pipeline: parsePipelineText(search(fields), 'x.yaml'), plugins: builtinRegistry(), file: 'x.yaml', userPlugins: [] };
      return workflowInput(loaded, 'r', '/tmp/a').stages.search!;
    };
    expect(plan('latencyWeight: 0.5, targetLatencyMs: 4, latencyPenalty: absolute').input).toMatchObject({ latencyWeight: 0.5, latencyTargetMs: 4 });
    // linear (the default): lambda per reference millisecond, no target
    const linear = plan('latencyWeight: 0.5, targetLatencyMs: 4').input as unknown as Record<string, unknown>;
    expect(linear).toMatchObject({ latencyWeight: 0.125 });
    expect(linear.latencyTargetMs).toBeUndefined();
    expect(plan('strategy: { plugin: random }, latencyWeight: 0.5, targetLatencyMs: 4, latencyPenalty: absolute').input).toMatchObject({
      latency: { weight: 0.5, referenceMs: 4, penalty: 'absolute' },
    });
  });

  it('band trials need the latency table of a one-shot search; their settings reach the search input', () => {
    const search = (fields: string, targets = '{ cpu: { plugin: macs } }') =>
      `version: 1\nname: x\ndataset: { name: fashion-mnist }\nhardwareTargets: ${targets}\nstages:\n  baselineSearch: { ${fields} }\n`;
    const load = (text: string) => ({ pipeline: parsePipelineText(text, 'x.yaml'), plugins: builtinRegistry(), file: 'x.yaml', userPlugins: [] });
    for (const text of [search('latencyWeight: 0, bandTrials: {}'), search('bandTrials: {}', '{}'), search('bandTrials: {}', '{ cpu: { plugin: macs }, web: { plugin: wasm } }')]) {
      const problems = problemsOf(() => parsePipelineText(text, 'x.yaml'));
      expect(problems).toContainEqual(expect.objectContaining({ path: 'stages.baselineSearch.bandTrials', line: 6, message: expect.stringContaining('hardware target and latencyWeight > 0') }));
    }
    const [band] = problemsOf(() => parsePipelineText(search('bandTrials: { band: 1 }'), 'x.yaml'));
    expect(band).toMatchObject({ path: 'stages.baselineSearch.bandTrials.band', message: expect.stringContaining('< 1') });

    const planned = workflowInput(load(search('parallelTrials: 3, bandTrials: { trials: 5 }')), 'r', '/tmp/a').stages.search!;
    expect(planned.mode).toBe('one-shot');
    expect(planned.input).toMatchObject({ bandTrials: { trials: 5, epochs: 1, band: 0.1, parallelTrials: 3 } });
    expect((workflowInput(load(search('latencyWeight: 0.5')), 'r', '/tmp/a').stages.search!.input as { bandTrials?: unknown }).bandTrials).toBeUndefined();
    // Multi-trial strategies train separate nets already: refused before anything starts.
    expect(unrunnable(load(search('strategy: { plugin: random }, bandTrials: {}')))).toContainEqual(expect.stringContaining('stages.baselineSearch.bandTrials: band trials refine a one-shot search'));
    expect(unrunnable(load(search('bandTrials: {}')))).toEqual([]);
  });

  it('accuracy-latency scaling needs a target', () => {
    const [p] = problemsOf(() => parsePipelineText(yaml('  compoundScaling: { baseline: efficientnet-b0, objective: accuracy-latency }\n'), 'x.yaml'));
    expect(p).toMatchObject({ path: 'stages.compoundScaling.target', message: expect.stringContaining('needs a hardware target') });
  });

  it('an image folder needs its path', () => {
    const [p] = problemsOf(() => parsePipelineText('version: 1\nname: x\ndataset:\n  name: image-folder\nstages: { train: {} }\n', 'x.yaml'));
    expect(p).toMatchObject({ path: 'dataset.path', line: 4, column: 3, message: expect.stringContaining('required') });
  });

  it('a plugin of the wrong kind says what it is', () => {
    const problems = problemsOf(() =>
      parsePipelineText(yaml('  baselineSearch: { strategy: { plugin: macs } }\n'), 'x.yaml'),
    );
    expect(problems[0].message).toContain('"macs" is a hardware target');
  });
});

it('reports every problem at once, in file order', () => {
  const text = withLine(3, 'seed: -1').replace('    epochs: 2', '    epochs: zero').replace('    targets: [cpu, web]', '    targets: [tpu]');
  const problems = problemsOf(() => parsePipelineText(text, 'full.yaml'));
  expect(problems.map((p) => [p.path, p.line])).toEqual([
    ['seed', 3],
    ['stages.baselineSearch.epochs', 20],
    ['stages.evaluation.targets[0]', 30],
  ]);
});
