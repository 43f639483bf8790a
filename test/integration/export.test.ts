/**
 * What users take out of a run is the standard file: `nas export` of a real (short) training run
 * gives a folder that plain `@tensorflow/tfjs` loads in headless Chromium, unmodified, and that
 * reproduces the accuracy the run reported; the run's stored JSON files and the model card load
 * with Python's `json.load`; `nas compare` lists the run's models.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { runLayout } from '../../core/run-layout';
import { loadFashionMnist } from '../../engine/data/fashion-mnist';
import { repoRoot } from '../../infra/paths';
import { cleanEnv, expectExitedZero, runCli, stopLeftoverDevServer } from './support/cli';
import { writeFashionSubset } from './support/fashion-subset';

jest.setTimeout(400_000);

const CHROMIUM = '/usr/bin/chromium';
const root = mkdtempSync(join(tmpdir(), 'nas-export-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), 3000, 500);
const workDir = join(root, 'work');
const exported = join(root, 'shipped');
const env = cleanEnv();
let browser: Browser | undefined;
let server: Server | undefined;
let reported: number;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`headless Chromium is needed at ${CHROMIUM}: install it with \`apt-get install chromium\` (infra/setup.sh does)`);
  const file = join(root, 'short.yaml');
  // About 47 steps: the short training that used to leave BatchNorm statistics near their initial values.
  writeFileSync(
    file,
    `version: 1
name: export-short
seed: 5
dataset: { name: fashion-mnist, path: ${dataDir} }
stages:
  train:
    model: { kind: small-cnn, filters: 8 }
    epochs: 1
    batchSize: 64
    learningRate: 0.002
`,
  );
  // No artifacts.location: the run's artifacts go to the work folder.
  const run = await runCli(['run', file, '--work-dir', workDir, '--run-id', 'short-1'], env, 300_000, root);
  expectExitedZero(run);
  reported = Number(/test accuracy: (0\.\d{4})/.exec(run.stdout)?.[1]);
  expect(run.stdout).toContain(`artifacts: ${join(workDir, 'artifacts')}/runs/short-1`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-background-networking', '--disable-component-update', '--no-first-run'] });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  stopLeftoverDevServer(workDir);
  rmSync(root, { recursive: true, force: true });
});

test('nas export writes the model folder and a model card; refuses a folder in use', async () => {
  const result = await runCli(['export', 'short-1', exported, '--work-dir', workDir], env);
  expectExitedZero(result);
  expect(result.stdout).toContain(`exported train (`);
  const card = JSON.parse(readFileSync(join(exported, 'model-card.json'), 'utf8')) as Record<string, unknown>;
  expect(card).toMatchObject({ format: 'hwnas-model-card/1', model: 'train', run: 'short-1', pipeline: 'export-short', dataset: 'fashion-mnist', testAccuracy: expect.any(Number) });
  expect((card.testAccuracy as number).toFixed(4)).toBe(reported.toFixed(4));
  expect(Object.keys(card.files as object).sort()).toEqual(['model.json', 'weights.bin']);

  const again = await runCli(['export', 'short-1', exported, '--work-dir', workDir], env);
  expect(again.code).toBe(2);
  expect(again.stderr.trim()).toBe(`nas export: ${exported} exists and is not empty: choose another folder, or --force to replace it`);
  const unknown = await runCli(['export', 'short-1', join(root, 'other'), '--model', 'nope', '--work-dir', workDir], env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr.trim()).toBe('nas export: run short-1 has no model "nope"; its models: train');
  expect(existsSync(join(root, 'other'))).toBe(false);

  const compared = await runCli(['compare', 'short-1', '--json', '--work-dir', workDir], env);
  expectExitedZero(compared);
  expect(JSON.parse(compared.stdout)).toMatchObject([{ run: 'short-1', id: 'train', testAccuracy: card.testAccuracy }]);
});

test("Python's json.load reads the stored files and the model card as they are", () => {
  const stored = (key: string) => join(workDir, 'artifacts', key);
  const run = runLayout('short-1');
  for (const file of [stored(run.training('train').metrics), stored(run.training('train').modelJson), stored(run.pipeline), join(exported, 'model-card.json')]) {
    const python = spawnSync('python3', ['-c', 'import json,sys; json.load(open(sys.argv[1]))', file], { encoding: 'utf8' });
    expect({ file, code: python.status, stderr: python.stderr }).toEqual({ file, code: 0, stderr: '' });
  }
});

test('plain tfjs in headless Chromium loads the exported model and reproduces the reported accuracy', async () => {
  const test = loadFashionMnist(dataDir).test;
  const files: Record<string, Buffer | string> = {
    '/tf.min.js': readFileSync(join(repoRoot(), 'node_modules', '@tensorflow', 'tfjs', 'dist', 'tf.min.js')),
    '/model/model.json': readFileSync(join(exported, 'model.json')),
    '/model/weights.bin': readFileSync(join(exported, 'weights.bin')),
    '/images.bin': Buffer.from(test.images),
    '/labels.bin': Buffer.from(test.labels),
    '/': '<!doctype html><meta charset="utf-8"><script src="/tf.min.js"></script>',
  };
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': req.url === '/' ? 'text/html' : req.url?.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/`);

  const seen = await page.evaluate(async () => {
    // In the page: the plain tfjs global, the model served byte for byte from the export.
    const tf = (globalThis as unknown as { tf: typeof import('@tensorflow/tfjs') }).tf;
    await tf.setBackend('cpu');
    const model = await tf.loadLayersModel('/model/model.json');
    const images = new Uint8Array(await (await fetch('/images.bin')).arrayBuffer());
    const labels = new Uint8Array(await (await fetch('/labels.bin')).arrayBuffer());
    const pixels = Float32Array.from(images, (v) => v / 255);
    const predicted = tf.tidy(() => (model.predict(tf.tensor4d(pixels, [labels.length, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor).argMax(-1).dataSync());
    let correct = 0;
    labels.forEach((label, i) => (correct += predicted[i] === label ? 1 : 0));
    return { accuracy: correct / labels.length, classes: new Set(predicted).size, backend: tf.getBackend() };
  });
  expect(errors).toEqual([]);
  expect(seen.backend).toBe('cpu');
  // The same weights and the same images: the browser's float rounding may flip a borderline image, no more.
  expect(Math.abs(seen.accuracy - reported)).toBeLessThanOrEqual(1 / 500 + 1e-9);
  // Not a model at chance that answers one class for everything.
  expect(seen.classes).toBeGreaterThan(3);
  expect(seen.accuracy).toBeGreaterThan(0.3);
});
