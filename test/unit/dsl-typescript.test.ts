import { join } from 'node:path';
import { loadPipelineFile } from '../../dsl';
import { problemsOf, tempDir, writeTemp } from './dsl-helpers';

const root = join(__dirname, '..', '..');
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
