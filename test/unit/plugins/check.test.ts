import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as plugin } from '../../../cli/commands/plugin';
import { run as validate } from '../../../cli/commands/validate';
import { checkPlugin } from '../../../plugins/check';
import { checkDeterminism } from '../../../plugins/check/determinism';
import { pluginApiDir, scaffoldPlugin } from '../../../plugins/scaffold';

const fixtures = join(__dirname, '../..', 'fixtures');

/** Runs a CLI command and captures what it prints. */
async function cli(command: (argv: string[]) => Promise<number>, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const spies = [
    jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' '))),
    jest.spyOn(console, 'warn').mockImplementation((...a) => void err.push(a.join(' '))),
    jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' '))),
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true)),
  ];
  try {
    const code = await command(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

describe('a plugin made by nas plugin new', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-plugin-'));

  it('scaffolds, passes nas plugin check, and is loaded by a pipeline through nas validate', async () => {
    const made = await cli(plugin, ['new', 'search-strategy', 'local-search', '--dir', dir]);
    expect(made.code).toBe(0);
    expect(made.out).toContain(join(dir, 'local-search', 'index.ts'));
    expect(readFileSync(join(dir, 'local-search', 'local-search.test.ts'), 'utf8')).toContain('simulateStrategy');

    const checked = await cli(plugin, ['check', join(dir, 'local-search')]);
    expect(checked).toMatchObject({ code: 0, out: expect.stringContaining('ok (search strategy local-search 0.1.0)') });

    const pipeline = join(dir, 'pipeline.yaml');
    writeFileSync(
      pipeline,
      'version: 1\nname: uses-plugin\ndataset: { name: fashion-mnist }\nplugins: [./local-search]\nstages:\n  baselineSearch:\n    strategy: { plugin: local-search, config: { trials: 3, trails: 1 } }\n',
    );
    const invalid = await cli(validate, [pipeline]);
    expect(invalid.code).toBe(2);
    expect(invalid.err).toContain(`${pipeline}:7:60: stages.baselineSearch.strategy.config.trails: unknown key "trails" (did you mean "trials"?)`);

    writeFileSync(pipeline, readFileSync(pipeline, 'utf8').replace(', trails: 1', ''));
    const valid = await cli(validate, [pipeline]);
    expect(valid).toMatchObject({ code: 0, out: expect.stringContaining('plugins   local-search 0.1.0') });

    const listed = await cli(plugin, ['list', '--pipeline', pipeline]);
    expect(listed.out).toMatch(/local-search 0\.1\.0 multi-trial \(.*index\.ts\)/);
    expect(listed.out).toContain('trials: integer, default 20');
  });

  it('scaffolds a hardware target that passes the check', async () => {
    scaffoldPlugin('hardware-target', 'my-npu', dir);
    expect(checkPlugin(join(dir, 'my-npu'), { trustedRoot: pluginApiDir() })).toMatchObject({ ok: true, findings: [] });
  });

  it('refuses bad kinds, bad names and existing files', async () => {
    await expect(plugin(['new', 'optimizer', 'x', '--dir', dir])).rejects.toThrow('unknown plugin kind');
    await expect(plugin(['new', 'search-strategy', 'Bad_Name', '--dir', dir])).rejects.toThrow('lowercase');
    await expect(plugin(['new', 'hardware-target', 'my-npu', '--dir', dir])).rejects.toThrow('not overwriting');
  });
});

describe('nas plugin check', () => {
  it('rejects Math.random() in decision code with its line', async () => {
    const file = join(fixtures, 'plugins', 'math-random-strategy.ts');
    const result = await cli(plugin, ['check', file]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(`${file}:20:20: error: Math.random() is not seeded`);
  });

  it('passes the committed scaffold and the built-in strategies', () => {
    for (const file of [
      'fixtures/plugins/hill-climb',
      '../plugins/builtin/random.ts',
      '../plugins/builtin/regularized-evolution.ts',
      '../plugins/builtin/successive-halving.ts',
      '../examples/plugins/my-hill-climb.ts',
    ]) {
      expect(checkPlugin(join(__dirname, '../..', file), { trustedRoot: pluginApiDir() })).toMatchObject({ ok: true, findings: [] });
    }
  });

  it("the README's strategy example is the example file, verbatim", () => {
    const example = readFileSync(join(__dirname, '../..', '..', 'examples', 'plugins', 'my-hill-climb.ts'), 'utf8');
    expect(readFileSync(join(__dirname, '../..', '..', 'README.md'), 'utf8')).toContain('```ts\n' + example + '```');
  });

  it('flags clocks, timers, I/O imports and module-level state, each with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nas-check-'));
    writeFileSync(join(dir, 'helper.ts'), 'export const now = () => performance.now();\n');
    const file = join(dir, 'strategy.ts');
    writeFileSync(
      file,
      [
        "import { readFileSync } from 'node:fs';", // 1
        "import * as http from 'http';", // 2
        "import { now } from './helper';", // 3
        'let calls = 0;', // 4
        'const seen: number[] = [];', // 5
        'const table = new Map<string, number>();', // 6
        'export function decide(Math: { random(): number }) {', // 7
        '  calls++;', // 8
        '  seen.push(Date.now());', // 9
        "  table.set('a', 1);", // 10
        '  setTimeout(() => undefined, 10);', // 11
        '  const local: number[] = []; local.push(1);', // 12
        '  return Math.random() + now() + (http ? 0 : 1);', // 13 (Math is a parameter: fine)
        '}', // 14
        'export default { kind: "search-strategy" };', // 15
      ].join('\n'),
    );
    const findings = checkDeterminism(file).map((f) => `${f.file === file ? '' : 'helper:'}${f.line}: ${f.message.split(':')[0]}`);
    expect(findings).toEqual([
      'helper:1: performance',
      '1: imports "node',
      '2: imports "http"',
      '4: module-level `let calls`',
      '9: mutates module-level `seen`',
      '9: Date',
      '10: mutates module-level `table`',
      '11: setTimeout',
    ]);
  });

  it('reports missing contract members from the syntax tree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nas-check-'));
    const file = join(dir, 'partial.ts');
    writeFileSync(file, "export default {\n  kind: 'search-strategy',\n  mode: 'multi-trial',\n  name: 'partial',\n  version: '1.0.0',\n  init: () => 0,\n};\n");
    const result = checkPlugin(file);
    expect(result.ok).toBe(false);
    expect(result.findings[0]).toMatchObject({ line: 1, message: 'plugin is missing configSchema, propose, observe, best' });
  });
});

describe('nas validate', () => {
  it('prints a summary for a valid file and the resolved pipeline on request', async () => {
    const file = join(fixtures, 'custom-plugin.yaml');
    expect(await cli(validate, [file])).toMatchObject({ code: 0, out: expect.stringContaining('valid pipeline "custom-plugin"') });
    const resolved = await cli(validate, [file, '--print-resolved', '--json']);
    expect(JSON.parse(resolved.out).stages.baselineSearch.warmupEpochs).toBe(5);
  });

  it('exits 2 with one FILE:LINE:COL line per problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nas-validate-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'version: 1\nname: bad\ndataset: { name: fashion-mnist }\nstages:\n  baselineSearch:\n    strategy: { plugin: randm }\n    epochs: -1\n');
    const result = await cli(validate, [file]);
    expect(result.code).toBe(2);
    expect(result.err.split('\n')).toEqual([
      `${file}:6:25: stages.baselineSearch.strategy.plugin: unknown search strategy "randm" (did you mean "random"?); known: proxyless-gradient, proxyless-reinforce, random, regularized-evolution, successive-halving; a user plugin must be listed under plugins:`,
      `${file}:7:13: stages.baselineSearch.epochs: must be > 0`,
      '1 of 1 pipeline file invalid',
    ]);
  });

  it('treats a missing argument as bad usage', async () => {
    await expect(validate([])).rejects.toMatchObject({ exitCode: 2 });
  });
});
