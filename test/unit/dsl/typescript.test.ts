import { join } from 'node:path';
import { loadPipelineFile } from '../../../dsl';
import { moduleLoadTimeoutMs } from '../../../plugins/bounded-load';
import { problemsOf, tempDir, writeTemp } from '../../support/dsl-helpers';

const root = join(__dirname, '../..', '..');
const dsl = join(root, 'dsl').split('\\').join('/');

it('loads a typed pipeline module with defaults filled', () => {
  const p = loadPipelineFile(join(root, 'examples', 'typed-pipeline.ts'));
  expect(p.name).toBe('typed-pipeline');
  expect(p.searchSpace.stages.map((s) => s.channels)).toEqual([16, 24, 40, 80]);
  expect(p.stages.baselineSearch!.strategy.config).toEqual({ population: 10, sampleSize: 5, trials: 40 });
});

it('points problems at the line in the TypeScript source', () => {
  const dir = tempDir();
  const file = writeTemp(
    dir,
    'bad.ts',
    [
      `import { definePipeline } from '${dsl}';`,
      'export default definePipeline({',
      '  version: 1,',
      "  name: 'bad-ts',",
      "  dataset: { name: 'fashion-mnist' },",
      '  stages: {',
      '    baselineSearch: {',
      "      strategy: { plugin: 'random', config: { trials: -3 } },",
      '      epochs: 0,',
      '    },',
      '  },',
      // An unknown key in a typed file is a type error too; the loader must still report it.
      '  seeed: 3,',
      '} as never);',
    ].join('\n'),
  );
  const problems = problemsOf(() => loadPipelineFile(file));
  expect(problems.map((p) => [p.path, p.line, p.column])).toEqual([
    ['stages.baselineSearch.strategy.config.trials', 8, 55],
    ['stages.baselineSearch.epochs', 9, 15],
    ['seeed', 12, 3],
  ]);
  expect(problems[2].message).toContain('did you mean "seed"');
});

it('reports a module that throws, or exports nothing', () => {
  const dir = tempDir();
  expect(problemsOf(() => loadPipelineFile(writeTemp(dir, 'throws.ts', "throw new Error('boom');\n")))[0].message).toContain('cannot load the module: boom');
  expect(problemsOf(() => loadPipelineFile(writeTemp(dir, 'none.ts', 'export const x = 1;\n')))[0].message).toContain('no default export');
});

describe('a module whose top-level code never finishes', () => {
  const saved = process.env.NAS_MODULE_LOAD_TIMEOUT_MS;
  beforeAll(() => (process.env.NAS_MODULE_LOAD_TIMEOUT_MS = '300'));
  afterAll(() => (saved === undefined ? delete process.env.NAS_MODULE_LOAD_TIMEOUT_MS : (process.env.NAS_MODULE_LOAD_TIMEOUT_MS = saved)));

  it('is a problem naming the file after the time limit, not a hang', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'loops.ts', `import { definePipeline } from '${dsl}';\nfor (;;) {}\nexport default definePipeline({} as never);\n`);
    const started = Date.now();
    const problems = problemsOf(() => loadPipelineFile(file));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(problems).toEqual([
      expect.objectContaining({ file, line: 1, column: 1, message: expect.stringContaining(`${file} did not finish loading within 0.3 s`) }),
    ]);
    expect(problems[0].message).toContain('NAS_MODULE_LOAD_TIMEOUT_MS=');
  });

  it('is bounded also when the loop is in a module it imports', () => {
    const dir = tempDir();
    writeTemp(dir, 'helper.ts', 'export const x = (() => { while (true) {} })();\n');
    const file = writeTemp(dir, 'imports.ts', "import { x } from './helper';\nexport default { version: 1, name: String(x) };\n");
    expect(problemsOf(() => loadPipelineFile(file))[0].message).toContain('did not finish loading within 0.3 s');
  });
});

it('the limit is 10 s unless NAS_MODULE_LOAD_TIMEOUT_MS names another', () => {
  expect(moduleLoadTimeoutMs({})).toBe(10_000);
  expect(moduleLoadTimeoutMs({ NAS_MODULE_LOAD_TIMEOUT_MS: '30000' })).toBe(30_000);
  expect(moduleLoadTimeoutMs({ NAS_MODULE_LOAD_TIMEOUT_MS: 'soon' })).toBe(10_000);
});
