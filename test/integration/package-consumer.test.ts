/**
 * hwnas as a package in a user's own repository: a folder outside this one, with hwnas installed
 * (as `npm install <path>` does: a link in node_modules), type-checks an idiomatic TypeScript
 * pipeline that imports `definePipeline` from 'hwnas' and a scaffolded plugin that imports
 * 'hwnas/plugins', with the user's own tsc settings, both module resolutions users have; a typo
 * in a field name is still a type error; `nas validate` accepts the pipeline there.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../infra/paths';
import { cleanEnv, expectExitedZero, runCli } from './support/cli';

jest.setTimeout(180_000);

const root = repoRoot();
const consumer = mkdtempSync(join(tmpdir(), 'nas-consumer-'));
const TSC = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const PIPELINE = `import { definePipeline } from 'hwnas';

// Plain arrays, as people write them: number[], not literal unions.
const kernels = [3, 5];
const widths = [16, 24, 40];

export default definePipeline({
  version: 1,
  name: 'consumer-pipeline',
  seed: 7,
  dataset: { name: 'fashion-mnist' },
  searchSpace: {
    stem: { channels: 16, stride: 1 },
    stages: widths.map((channels, i) => ({ channels, repeats: 1, stride: i === 0 ? 1 : 2, kernels, expansions: [3, 6], skip: i > 0 })),
  },
  hardwareTargets: { cpu: { plugin: 'node-cpu' } },
  stages: {
    baselineSearch: { strategy: { plugin: 'random', config: { trials: 4 } }, epochs: 1 },
  },
});
`;

function tsconfig(moduleResolution: 'nodenext' | 'node10'): string {
  return JSON.stringify({
    compilerOptions: {
      strict: true,
      target: 'es2022',
      module: moduleResolution === 'nodenext' ? 'nodenext' : 'commonjs',
      moduleResolution,
      noEmit: true,
      skipLibCheck: true,
      types: ['node', 'jest'],
    },
    include: ['*.ts', 'my-strategy/*.ts'],
  });
}

function tsc(project: string): { code: number | null; out: string } {
  const result = spawnSync(process.execPath, [TSC, '-p', project], { cwd: consumer, encoding: 'utf8' });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

beforeAll(async () => {
  mkdirSync(join(consumer, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(consumer, 'node_modules', 'hwnas'), 'dir');
  // What the user's repository has installed for itself.
  for (const types of ['node', 'jest']) symlinkSync(join(root, 'node_modules', '@types', types), join(consumer, 'node_modules', '@types', types), 'dir');
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'my-nas-project', private: true, dependencies: { hwnas: `file:${root}` } }));
  writeFileSync(join(consumer, 'pipeline.ts'), PIPELINE);
  writeFileSync(join(consumer, 'tsconfig.json'), tsconfig('nodenext'));
  writeFileSync(join(consumer, 'tsconfig.node10.json'), tsconfig('node10'));
  expectExitedZero(await runCli(['plugin', 'new', 'search-strategy', 'my-strategy'], cleanEnv(), 60_000, consumer));
});
afterAll(() => rmSync(consumer, { recursive: true, force: true }));

test.each(['tsconfig.json', 'tsconfig.node10.json'])('the pipeline and a scaffolded plugin type-check in the user folder (%s)', (project) => {
  expect(tsc(project)).toEqual({ code: 0, out: '' });
});

test('a misspelt field is still a type error there', () => {
  writeFileSync(join(consumer, 'typo.ts'), PIPELINE.replace('seed: 7', 'seeed: 7'));
  try {
    const result = tsc('tsconfig.json');
    expect(result.code).not.toBe(0);
    expect(result.out).toMatch(/typo\.ts\(\d+,\d+\): error TS2\d+: .*'seeed'/);
  } finally {
    rmSync(join(consumer, 'typo.ts'));
  }
});

test('nas validate accepts the pipeline in the user folder', async () => {
  const result = await runCli(['validate', 'pipeline.ts'], cleanEnv(), 60_000, consumer);
  expectExitedZero(result);
  expect(result.stdout).toContain('consumer-pipeline');
});
