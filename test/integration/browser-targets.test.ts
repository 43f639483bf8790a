/**
 * Browser targets in a real headless Chromium (Debian's, driven by playwright-core): a small
 * latency table measured with browser-wasm (threads and SIMD, cross-origin isolated page) and
 * browser-webgl, a whole exported model timed with each browser backend, the same through a
 * browser reached over its DevTools endpoint, and a missing browser refused with its path named,
 * by the target and by `nas run` before anything starts, and by `nas resume` of a run whose browser
 * has gone since. No thresholds on timings: their shape.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildLatencyTable, loadLatencyTable, type BuildLatencyTableInput } from '../../activities/latency-table';
import { openArtifactStore } from '../../artifacts';
import { SearchSpaceSchema } from '../../dsl/search-space';
import { archFromChoices } from '../../engine/arch/from-choices';
import { measureModelInBrowser } from '../../engine/latency/browser/measure';
import { closeBrowserSessions } from '../../engine/latency/browser/session';
import { distinctOps, enumerateSpaceOps } from '../../engine/latency/space-ops';
import { buildArchModel } from '../../engine/models/arch-model';
import { browserWasm, browserWebgl, browserWebgpu, DEFAULT_CHROMIUM } from '../../plugins/builtin/browser-targets';
import type { HardwareTargetPlugin } from '../../plugins/api';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, stopLeftoverDevServer, waitFor } from './support/cli';

jest.setTimeout(300_000);

const SPACE = {
  inputResolution: 12,
  stem: { channels: 8, stride: 1 as const },
  stages: [{ channels: 8, repeats: 2, stride: 2 as const, kernels: [3 as const, 5 as const], expansions: [3, 6], skip: true }],
  head: { channels: 16 },
};
const FAST = { batchSize: 1, warmupRuns: 2, repeats: 5 };
const root = mkdtempSync(join(tmpdir(), 'nas-browser-int-'));
const modelDir = join(root, 'model');
const ctx = (config: unknown) => ({ config, heartbeat: () => undefined });

beforeAll(async () => {
  if (!existsSync(DEFAULT_CHROMIUM)) throw new Error(`headless Chromium is needed at ${DEFAULT_CHROMIUM}: install it with \`apt-get install chromium\` (infra/setup.sh --test-tools does)`);
  const space = SearchSpaceSchema.parse(SPACE);
  const model = buildArchModel(archFromChoices(space, [0, 3], { resolution: 12, inputChannels: 1, numClasses: 4 }), { inferenceOnly: true });
  await model.save(`file://${modelDir}`);
  model.dispose();
});

afterAll(async () => {
  await closeBrowserSessions();
  rmSync(root, { recursive: true, force: true });
});

test('browser-wasm and browser-webgl measure a latency table in Chromium, cached like any table', async () => {
  const env = new MockActivityEnvironment();
  const run = (i: BuildLatencyTableInput) => env.run(buildLatencyTable, i) as Promise<string>;
  const base = { artifactLocation: root, runId: 'r1', space: SPACE, inputChannels: 1, numClasses: 4, pluginFiles: [] };
  const ops = distinctOps(enumerateSpaceOps(SearchSpaceSchema.parse(SPACE), { inputChannels: 1, numClasses: 4 }));
  const store = openArtifactStore(root);
  for (const [plugin, config] of [['browser-wasm', { ...FAST, threads: 2 }], ['browser-webgl', FAST]] as const) {
    const key = await run({ ...base, targetId: plugin, plugin, config });
    expect(key).toMatch(new RegExp(`^latency-tables/${plugin}/[0-9a-f]{24}\\.json$`));
    const table = await loadLatencyTable(store, key);
    expect(table.target).toBe(plugin);
    expect(table.entries.map((e) => e.key)).toEqual(ops.map((o) => table.entries.find((e) => e.op && JSON.stringify(e.op) === JSON.stringify(o))?.key));
    for (const e of table.entries) {
      expect(e.repeats).toBe(FAST.repeats);
      expect(e.medianMs).toBeGreaterThan(0);
      expect(e.p90Ms!).toBeGreaterThanOrEqual(e.medianMs);
    }
    const before = await store.head(key);
    expect(await run({ ...base, runId: 'r2', targetId: plugin, plugin, config })).toBe(key);
    expect(await store.head(key)).toEqual(before);
  }
});

test('a whole exported model is timed with the wasm (2 threads, SIMD), webgl and, where offered, webgpu backends', async () => {
  const wasm = await measureModelInBrowser(
    { executable: DEFAULT_CHROMIUM, args: [], pageHost: '127.0.0.1', pagePort: 0 },
    { backend: 'wasm', threads: 2, simd: true },
    modelDir,
    [12, 12, 1],
    { batchSize: 1, warmupRuns: 2, repeats: 7 },
  );
  expect(wasm).toMatchObject({ repeats: 7, page: { backend: 'wasm', threads: 2, simd: true, crossOriginIsolated: true } });
  expect(wasm.page.userAgent).toContain('Chrome');

  for (const target of [browserWasm, browserWebgl] as HardwareTargetPlugin[]) {
    const m = await target.measureModel!(modelDir, [12, 12, 1], ctx(target.configSchema.parse(FAST)));
    expect(m.repeats).toBe(FAST.repeats);
    expect(m.medianMs).toBeGreaterThan(0);
    expect(m.p90Ms!).toBeGreaterThanOrEqual(m.medianMs);
  }
  // WebGPU depends on the browser build and its adapters: either it measures, or it says what is missing.
  const webgpu = await (browserWebgpu as HardwareTargetPlugin).measureModel!(modelDir, [12, 12, 1], ctx(browserWebgpu.configSchema.parse(FAST))).then(
    (m) => m,
    (err: Error) => err,
  );
  if (webgpu instanceof Error) expect(webgpu.message).toMatch(/cannot run the tfjs webgpu backend: (navigator\.gpu|navigator\.gpu\.requestAdapter|tf\.setBackend)/);
  else expect(webgpu.medianMs).toBeGreaterThan(0);
});

test('a browser reached over its DevTools endpoint measures the same model', async () => {
  const profile = mkdtempSync(join(root, 'profile-'));
  // As root (CI), Chromium refuses to start without --no-sandbox; playwright adds it to the browsers it starts.
  const sandbox = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  const flags = ['--headless', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--no-first-run', '--enable-unsafe-swiftshader', ...sandbox, 'about:blank'];
  const chromium: ChildProcess = spawn(DEFAULT_CHROMIUM, flags, { stdio: 'ignore' });
  try {
    // Chromium writes the port it chose to DevToolsActivePort in its profile.
    const port = await waitFor('DevToolsActivePort', async () => (readdirSync(profile).includes('DevToolsActivePort') ? readFileSync(join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0] || undefined : undefined), 30_000, 200);
    const config = browserWebgl.configSchema.parse({ ...FAST, browser: { endpoint: `http://127.0.0.1:${port}` } });
    const m = await (browserWebgl as HardwareTargetPlugin).measureModel!(modelDir, [12, 12, 1], ctx(config));
    expect(m).toMatchObject({ repeats: FAST.repeats });
    expect(m.medianMs).toBeGreaterThan(0);
    // The browser is not ours: closing our sessions leaves it running.
    await closeBrowserSessions();
    expect(chromium.exitCode).toBeNull();
  } finally {
    chromium.kill('SIGKILL');
  }
});

/** A pipeline file that trains a small CNN for `epochs` and evaluates it on browser-wasm run by `executable`. */
function browserPipeline(name: string, executable: string, epochs: number): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1
name: ${name}
dataset: { name: fashion-mnist }
hardwareTargets:
  web: { plugin: browser-wasm, config: { browser: { executable: ${executable} } } }
stages:
  train: { model: { kind: small-cnn }, epochs: ${epochs} }
  evaluation: { targets: [web] }
`,
  );
  return file;
}

test('no browser: the target names the missing one, and nas run refuses before starting anything', async () => {
  const missing = join(root, 'no-such', 'chromium');
  const config = browserWasm.configSchema.parse({ ...FAST, browser: { executable: missing } });
  await expect((browserWasm as HardwareTargetPlugin).measureModel!(modelDir, [12, 12, 1], ctx(config))).rejects.toMatchObject({
    name: 'BrowserUnavailableError',
    message: expect.stringContaining(`no browser at ${missing}: install Debian's chromium`),
  });
  const dead = browserWebgl.configSchema.parse({ ...FAST, browser: { endpoint: 'http://127.0.0.1:9' } });
  await expect((browserWebgl as HardwareTargetPlugin).measureModel!(modelDir, [12, 12, 1], ctx(dead))).rejects.toMatchObject({
    name: 'BrowserUnavailableError',
    message: expect.stringContaining('no browser answers at DevTools endpoint http://127.0.0.1:9'),
  });

  const work = join(root, 'work');
  const file = browserPipeline('browser-missing', missing, 1);
  const result = await runCli(['run', file, '--work-dir', work], cleanEnv(), 60_000, root);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`${file}: hardwareTargets.web (browser-wasm): no browser at ${missing}: install Debian's chromium`);
  expect(result.stderr).toContain('nas run: nothing was started');
  expect(existsSync(work)).toBe(false);
});

test('nas resume refuses a run whose browser has gone since it started, and leaves the run as it was', async () => {
  const work = join(root, 'work-resume');
  // The run's browser, which is then uninstalled.
  const browser = join(root, 'chromium-link');
  symlinkSync(DEFAULT_CHROMIUM, browser);
  const file = browserPipeline('browser-gone', browser, 20);
  const env = cleanEnv();
  const runner = startCli(['run', file, '--work-dir', work, '--run-id', 'browser-gone'], env);
  try {
    await waitFor('the training to start', async () => (/\[train\] epoch/.test(runner.output().stdout) ? true : undefined), 120_000);
    const exited = new Promise((resolve) => runner.once('close', resolve));
    runner.kill('SIGINT');
    expect(await exited).toBe(130);
  } finally {
    await stopChild(runner);
    stopLeftoverDevServer(work);
  }
  rmSync(browser);
  try {
    const resumed = await runCli(['resume', 'browser-gone', '--work-dir', work], env, 60_000);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toContain(`run browser-gone: hardwareTargets.web (browser-wasm): no browser at ${browser}: install Debian's chromium`);
    expect(resumed.stderr).toContain('nas resume: run browser-gone stays as it was (running); nothing was started');
    expect(resumed.stdout).not.toContain('following it');
    const status = await runCli(['status', 'browser-gone', '--json', '--work-dir', work], env, 60_000);
    expectExitedZero(status);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'running' });
  } finally {
    stopLeftoverDevServer(work);
  }
});
