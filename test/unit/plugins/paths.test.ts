/**
 * Validating a pipeline loads (so runs) the plugins it names. It may name code in its own folder
 * or an installed package, nothing else unless NAS_ALLOW_PLUGINS_OUTSIDE=1; only JavaScript or
 * TypeScript files; and a plugin whose top-level code never ends is a problem, not a hang.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePipelineFile } from '../../../dsl/load';
import { problemsOf } from '../../support/dsl-helpers';

const PLUGIN = `const { definePlugin, z } = require('hwnas/plugins');
globalThis.__pluginRuns = (globalThis.__pluginRuns ?? 0) + 1;
module.exports = definePlugin({
  kind: 'hardware-target', name: 'NAME', version: '0.0.1', configSchema: z.object({}).strict(),
  measureModel: async () => ({ medianMs: 1, p90Ms: 1, samples: [1] }),
});
`;
const runs = () => (globalThis as { __pluginRuns?: number }).__pluginRuns ?? 0;

/** A project folder with the pipeline in `pipelines/` and a plugin beside that folder, one above it. */
function project() {
  const root = mkdtempSync(join(tmpdir(), 'nas-plugin-paths-'));
  mkdirSync(join(root, 'pipelines', 'plugins'), { recursive: true });
  mkdirSync(join(root, 'shared'));
  writeFileSync(join(root, 'pipelines', 'plugins', 'inside.js'), PLUGIN.replace('NAME', 'inside'));
  writeFileSync(join(root, 'shared', 'outside.js'), PLUGIN.replace('NAME', 'outside'));
  writeFileSync(join(root, 'shared', 'notes.txt'), PLUGIN.replace('NAME', 'notes'));
  return root;
}

function pipeline(root: string, plugins: string[]): string {
  const file = join(root, 'pipelines', 'p.yaml');
  writeFileSync(file, `version: 1\nname: p\ndataset: { name: fashion-mnist }\nstages: { train: {} }\nplugins:\n${plugins.map((p) => `  - ${JSON.stringify(p)}\n`).join('')}`);
  return file;
}

afterEach(() => delete process.env.NAS_ALLOW_PLUGINS_OUTSIDE);

it('loads a plugin from the pipeline folder and below', () => {
  const root = project();
  const before = runs();
  const loaded = resolvePipelineFile(pipeline(root, ['./plugins/inside.js']));
  expect(loaded.userPlugins.map((p) => p.name)).toEqual(['inside']);
  // What the refusals below count on: loading a plugin runs it.
  expect(runs()).toBe(before + 1);
});

it('refuses plugin paths outside the pipeline folder at their plugins: entry, running none of them', () => {
  const root = project();
  const before = runs();
  const file = pipeline(root, ['../shared/outside.js', join(root, 'shared', 'outside.js'), '/etc/hostname', './plugins/../../shared/outside']);
  const problems = problemsOf(() => resolvePipelineFile(file));
  expect(problems.map((p) => [p.path, p.line, p.column])).toEqual([
    ['plugins[0]', 6, 5],
    ['plugins[1]', 7, 5],
    ['plugins[2]', 8, 5],
    ['plugins[3]', 9, 5],
  ]);
  expect(problems[0].message).toBe(
    `plugin "../shared/outside.js": ${join(root, 'shared', 'outside.js')} is outside the pipeline's folder ${join(root, 'pipelines')}: ` +
      "a pipeline's plugins load from its folder (and below) or from installed packages; NAS_ALLOW_PLUGINS_OUTSIDE=1 allows others",
  );
  expect(problems[2].message).toContain('/etc/hostname is outside the pipeline');
  expect(runs()).toBe(before);
});

it('refuses a symlink in the folder that leads outside it', () => {
  const root = project();
  symlinkSync(join(root, 'shared', 'outside.js'), join(root, 'pipelines', 'plugins', 'link.js'));
  const before = runs();
  const [problem] = problemsOf(() => resolvePipelineFile(pipeline(root, ['./plugins/link.js'])));
  expect(problem.message).toContain(`link.js (a link to ${join(root, 'shared', 'outside.js')}) is outside the pipeline's folder`);
  expect(runs()).toBe(before);
});

it('NAS_ALLOW_PLUGINS_OUTSIDE=1 lets a pipeline name files elsewhere', () => {
  const root = project();
  process.env.NAS_ALLOW_PLUGINS_OUTSIDE = '1';
  const loaded = resolvePipelineFile(pipeline(root, ['../shared/outside.js']));
  expect(loaded.userPlugins.map((p) => p.name)).toEqual(['outside']);
});

it('refuses files that are not JavaScript or TypeScript modules, even when outside plugins are allowed', () => {
  const root = project();
  process.env.NAS_ALLOW_PLUGINS_OUTSIDE = '1';
  writeFileSync(join(root, 'pipelines', 'plugins', 'data.json'), '{}');
  const before = runs();
  const problems = problemsOf(() => resolvePipelineFile(pipeline(root, ['/etc/hostname', '../shared/notes.txt', './plugins/data.json'])));
  expect(problems.map((p) => p.path)).toEqual(['plugins[0]', 'plugins[1]', 'plugins[2]']);
  expect(problems[0].message).toBe('plugin "/etc/hostname": /etc/hostname is not a plugin module: plugin code is a .ts, .js, .mjs, .cjs file');
  expect(runs()).toBe(before);
});

it('loads an installed package, and refuses names that are no package (Node built-ins, paths in disguise)', () => {
  const root = project();
  const pkg = join(root, 'node_modules', 'meter-plugin');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'meter-plugin', version: '0.0.1', main: 'main.js' }));
  writeFileSync(join(pkg, 'main.js'), PLUGIN.replace('NAME', 'meter'));
  expect(resolvePipelineFile(pipeline(root, ['meter-plugin'])).userPlugins.map((p) => p.name)).toEqual(['meter']);

  const problems = problemsOf(() => resolvePipelineFile(pipeline(root, ['child_process', 'meter-plugin/../../shared/outside.js', 'node:fs'])));
  expect(problems.map((p) => p.message)).toEqual([
    'plugin "child_process": "child_process" is a module of Node itself, not a plugin package',
    'plugin "meter-plugin/../../shared/outside.js": neither a path (start it with ./, ../ or /) nor an npm package name',
    'plugin "node:fs": neither a path (start it with ./, ../ or /) nor an npm package name',
  ]);
});

it('a plugin whose top-level code never finishes is a problem at its entry after the time limit', () => {
  const root = project();
  writeFileSync(join(root, 'pipelines', 'plugins', 'loops.js'), 'for (;;) {}\n');
  process.env.NAS_MODULE_LOAD_TIMEOUT_MS = '300';
  try {
    const started = Date.now();
    const [problem] = problemsOf(() => resolvePipelineFile(pipeline(root, ['./plugins/loops.js'])));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(problem).toMatchObject({ path: 'plugins[0]', line: 6, message: expect.stringContaining(`loops.js did not finish loading within 0.3 s`) });
  } finally {
    delete process.env.NAS_MODULE_LOAD_TIMEOUT_MS;
  }
});
