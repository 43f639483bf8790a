/**
 * The evaluation stage on the real stack: the compiled `nas` CLI in a child process, its embedded
 * Temporal dev server and in-process worker, the native TensorFlow backend, a real Fashion-MNIST
 * subset. Then the exported model is loaded with plain `@tensorflow/tfjs` (pure JavaScript, what a
 * browser runs) and must reproduce the accuracy the evaluation reported.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore, getJson } from '../../artifacts';
import type { EvaluatedModelRecord, EvaluationCheckpoint, EvaluationSummary } from '../../activities/evaluate-model';
import type { TrainClassifierResult } from '../../activities/train-classifier';
import { runLayout } from '../../core/run-layout';
import { parsePipelineText } from '../../dsl/load';
import { loadFashionMnist } from '../../engine/data/fashion-mnist';
import { readIdxFile } from '../../engine/data/idx';
import { loadSavedModel } from '../../engine/models/saved-model';
import { evaluateClassifier } from '../../engine/train/evaluate';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, waitFor, type CliResult } from './support/cli';
import { writeFashionSubset } from './support/fashion-subset';

jest.setTimeout(300_000);

const root = mkdtempSync(join(tmpdir(), 'nas-evaluation-'));
const TEST_IMAGES = 1000;
const dataDir = writeFashionSubset(join(root, 'fashion'), 3000, TEST_IMAGES);
const artifacts = join(root, 'artifacts');
const runId = 'eval-1';

function pipelineYaml(name: string, stages: string): string {
  return `version: 1
name: ${name}
seed: 4
dataset:
  name: fashion-mnist
  path: ${dataDir}
artifacts:
  location: ${artifacts}
hardwareTargets:
  this-cpu: { plugin: node-cpu, config: { repeats: 3 } }
  macs: { plugin: macs, config: { msPerMegaMac: 0.5 } }
stages:
${stages}`;
}

function writePipeline(name: string, text: string): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('nas run with an evaluation stage', () => {
  let result: CliResult;
  let summary: EvaluationSummary;
  const store = new LocalArtifactStore(artifacts);

  beforeAll(async () => {
    const file = writePipeline(
      'evaluate',
      pipelineYaml(
        'evaluate',
        `  train:
    model: { kind: small-cnn, filters: 8 }
    epochs: 1
    batchSize: 64
  evaluation:
    targets: [this-cpu, macs]
    warmupRuns: 2
    repeats: 7
    batchSize: 300
    referenceModels: [small-cnn]
`,
      ),
    );
    result = await runCli(['run', file, '--work-dir', join(root, 'work'), '--run-id', runId], cleanEnv(), 240_000);
    if (result.code === 0) summary = await getJson<EvaluationSummary>(store, runLayout(runId).evaluation.summary);
  });

  test('runs after training and writes the summary with every model', () => {
    expect(result.stderr).not.toMatch(/Error/);
    expectExitedZero(result);
    expect(result.stdout).toMatch(/stage train: [\d.]+ s/);
    expect(result.stdout).toMatch(/stage reference-small-cnn: [\d.]+ s/);
    expect(result.stdout).toMatch(/stage evaluation: [\d.]+ s/);
    expect(summary.runId).toBe(runId);
    expect(summary.pipelineName).toBe('evaluate');
    expect(summary.datasetName).toBe('fashion-mnist');
    expect(summary.classNames).toHaveLength(10);
    expect(summary.targets).toEqual([
      { id: 'this-cpu', plugin: 'node-cpu' },
      { id: 'macs', plugin: 'macs' },
    ]);
    expect(summary.models.map((m) => [m.id, m.role, m.label])).toEqual([
      ['train', 'trained', 'small CNN (8 filters)'],
      ['reference-small-cnn', 'reference', 'small CNN (16 filters)'],
    ]);
  });

  test("the trained model's accuracy is the train stage's, on the same test split", async () => {
    const train = await getJson<TrainClassifierResult & { perClassAccuracy: number[] }>(store, runLayout(runId).training('train').metrics);
    const m = summary.models.find((x) => x.id === 'train')!;
    // Trained: well above chance (0.1).
    expect(m.testAccuracy).toBeGreaterThan(0.5);
    expect(Math.abs(m.testAccuracy - train.testAccuracy)).toBeLessThan(1e-6);
    expect(m.perClassAccuracy).toHaveLength(10);
    expect(m.perClassAccuracy).toEqual(train.perClassAccuracy);
    expect(m.modelKey).toBe(train.modelKey);
    expect(m.modelWeightsKey).toBe(train.modelWeightsKey);
    // conv1 (3x3x1x8) and conv2 (3x3x8x16) with BatchNorm, fc1 (7*7*16 -> 128) and logits (128 -> 10).
    expect(m.params).toBe(72 + 32 + 1152 + 64 + (784 * 128 + 128) + (128 * 10 + 10));
    expect(m.macs).toBe(28 * 28 * 8 * 9 + 14 * 14 * 16 * 9 * 8 + 784 * 128 + 128 * 10);
  });

  test('latency on both targets, with the stage\'s repeats where the target times runs', async () => {
    for (const m of summary.models) {
      expect(Object.keys(m.latency).sort()).toEqual(['macs', 'this-cpu']);
      expect(m.latency['this-cpu'].medianMs).toBeGreaterThan(0);
      expect(m.latency['this-cpu'].p90Ms).toBeGreaterThanOrEqual(m.latency['this-cpu'].medianMs);
      expect(m.latency.macs.medianMs).toBeCloseTo((m.macs / 1e6) * 0.5, 9);
    }
    const record = await getJson<EvaluatedModelRecord>(store, runLayout(runId).evaluation.model('train'));
    // The stage's repeats (7) override the target's own (3).
    expect(record.measurements['this-cpu'].repeats).toBe(7);
    expect(record.testCount).toBe(TEST_IMAGES);
    expect(record.inputShape).toEqual([28, 28, 1]);
  });

  test('prints the table, one aligned row per model, and where the summary is', () => {
    const lines = result.stdout.split('\n');
    const header = lines.find((l) => /^\s+model\s+role\s+test acc\s+params\s+MACs\s+this-cpu ms \(median\/p90\)\s+macs ms \(median\/p90\)$/.test(l));
    expect(header).toBeDefined();
    for (const m of summary.models) {
      const row = lines.find((l) => l.includes(m.label) && l.includes(m.role));
      expect(row).toBeDefined();
      expect(row).toContain(m.testAccuracy.toFixed(4));
      expect(row).toContain(m.params.toLocaleString('en-US'));
      expect(row).toContain(`${(m.macs / 1e6).toFixed(2)}M`);
      // Aligned: every row as long as the header, the last column ending in the same place.
      expect(row!.length).toBe(header!.length);
    }
    expect(result.stdout).toContain(`summary: ${artifacts}/${runLayout(runId).evaluation.summary}`);
  });

  test('plain @tensorflow/tfjs (pure JavaScript) loads the exported model and reproduces the accuracy', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
    // Its "install the node backend" advice is expected here: this is the package browsers get.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    await tf.setBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const m = summary.models.find((x) => x.id === 'train')!;
    const json = JSON.parse(new TextDecoder().decode(await store.get(m.modelKey)));
    const weights = await store.get(m.modelWeightsKey);
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
      }),
    );
    const images = readIdxFile(join(dataDir, 't10k-images-idx3-ubyte.gz'));
    const labels = readIdxFile(join(dataDir, 't10k-labels-idx1-ubyte.gz'));
    const pixels = Float32Array.from(images.data, (v) => v / 255);
    const predicted = tf.tidy(() => (model.predict(tf.tensor4d(pixels, [TEST_IMAGES, 28, 28, 1]), { batchSize: 250 }) as import('@tensorflow/tfjs').Tensor).argMax(-1).dataSync());
    model.dispose();
    warn.mockRestore();
    let correct = 0;
    for (let i = 0; i < TEST_IMAGES; i++) if (predicted[i] === labels.data[i]) correct++;
    expect(Math.abs(correct / TEST_IMAGES - m.testAccuracy)).toBeLessThanOrEqual(0.002);
  });

  test('each model\'s result is stored under evaluation/models/', async () => {
    for (const m of summary.models) expect(existsSync(join(artifacts, runLayout(runId).evaluation.model(m.id)))).toBe(true);
  });
});

describe('nas run with elastic training and an evaluation stage', () => {
  test('evaluates the elastically trained model and a reference trained with the elastic settings, on every declared target', async () => {
    const file = writePipeline(
      'elastic',
      pipelineYaml(
        'elastic',
        `  elasticTraining:
    model: { kind: small-cnn, filters: 8 }
    workers: { min: 1, max: 1 }
    perWorkerBatch: 100
    epochs: 1
    learningRate: 0.02
  evaluation:
    warmupRuns: 1
    repeats: 3
    referenceModels: [small-cnn]
`,
      ),
    );
    const id = 'elastic-1';
    const result = await runCli(['run', file, '--work-dir', join(root, 'elastic-work'), '--run-id', id], cleanEnv(), 240_000);
    expect(result.stderr).not.toMatch(/Error/);
    expectExitedZero(result);
    expect(result.stdout).toMatch(/stage reference-small-cnn: [\d.]+ s/);
    const store = new LocalArtifactStore(artifacts);
    const summary = await getJson<EvaluationSummary>(store, runLayout(id).evaluation.summary);
    // No targets listed: every declared one.
    expect(summary.targets.map((t) => t.id)).toEqual(['this-cpu', 'macs']);
    expect(summary.models.map((m) => [m.id, m.role, m.label, m.modelKey])).toEqual([
      ['elastic-small-cnn', 'trained', 'small CNN (8 filters)', runLayout(id).elastic('elastic/small-cnn').modelJson],
      ['reference-small-cnn', 'reference', 'small CNN (16 filters)', runLayout(id).training('reference/small-cnn').modelJson],
    ]);
    for (const [model, stage] of [
      ['elastic-small-cnn', 'elastic/small-cnn'],
      ['reference-small-cnn', 'reference/small-cnn'],
    ]) {
      const trained = await getJson<{ testAccuracy: number; steps: number }>(store, runLayout(id).training(stage).metrics);
      expect(trained.steps).toBe(30);
      expect(Math.abs(summary.models.find((m) => m.id === model)!.testAccuracy - trained.testAccuracy)).toBeLessThan(1e-6);
    }
    for (const m of summary.models) expect(Object.keys(m.latency).sort()).toEqual(['macs', 'this-cpu']);
  });
});

describe('an evaluation whose worker is SIGKILLed mid-pass', () => {
  test('resumes its test-accuracy pass from the checkpoint on another worker, and counts every image once', async () => {
    const images = 5000;
    const killData = writeFashionSubset(join(root, 'fashion-kill'), 1000, images);
    const killArtifacts = join(root, 'kill-artifacts');
    const id = 'eval-kill';
    // Batch 1 makes the pass long enough (seconds) to kill inside it.
    const file = writePipeline(
      'eval-kill',
      pipelineYaml('eval-kill', `  train:
    model: { kind: small-cnn, filters: 8 }
    epochs: 1
    batchSize: 64
  evaluation:
    targets: [macs]
    batchSize: 1
    checkpointEverySeconds: 1
    heartbeatTimeoutSeconds: 5
`)
        .replace(`path: ${dataDir}`, `path: ${killData}`)
        .replace(`location: ${artifacts}`, `location: ${killArtifacts}`),
    );
    const store = new LocalArtifactStore(killArtifacts);
    const checkpointKey = runLayout(id).evaluation.checkpoint('train');
    const server = await startTemporalDevServer({ workDir: join(root, 'kill-work'), ui: false });
    const env = cleanEnv({ TEMPORAL_ADDRESS: server.address, NAS_TASK_QUEUE: 'eval-kill' });
    const first = startCli(['worker', '--identity', 'first'], env);
    const submitter = startCli(['run', file, '--run-id', id], env);
    const submitterExit = new Promise<number | null>((resolve) => submitter.once('close', resolve));
    let second: ReturnType<typeof startCli> | undefined;
    try {
      const seen = await waitFor(
        'an evaluation checkpoint part-way through the test pass',
        async () => {
          if (!(await store.head(checkpointKey))) return undefined;
          const c = await getJson<EvaluationCheckpoint>(store, checkpointKey).catch(() => undefined);
          return c && c.tally.done >= 500 && c.tally.done < images ? c : undefined;
        },
        180_000,
        50,
      );
      first.kill('SIGKILL');
      second = startCli(['worker', '--identity', 'second'], env);
      expect(await submitterExit).toBe(0);
      const record = await getJson<EvaluatedModelRecord>(store, runLayout(id).evaluation.model('train'));
      expect(record.testCount).toBe(images);
      // The retry continued from the checkpoint seen before the kill (or a later one), not from image 0.
      expect(record.resumedFrom!.testImages).toBeGreaterThanOrEqual(seen.tally.done);
      expect(record.resumedFrom!.testImages).toBeLessThan(images);
      expect(await store.head(checkpointKey)).toBeUndefined();
      // Every image counted once: the accuracy of one uninterrupted pass over the exported model.
      const dir = join(root, 'kill-export');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'model.json'), await store.get(record.modelKey));
      writeFileSync(join(dir, record.modelWeightsKey.slice(record.modelWeightsKey.lastIndexOf('/') + 1)), await store.get(record.modelWeightsKey));
      const model = await loadSavedModel(dir);
      const data = loadFashionMnist(killData);
      const whole = evaluateClassifier(model, data, data.test, { batchSize: 500 });
      model.dispose();
      expect(Math.abs(whole.accuracy - record.testAccuracy)).toBeLessThanOrEqual(1 / images);
    } finally {
      if (second) await stopChild(second);
      await stopChild(first);
      await stopChild(submitter);
      await server.stop();
    }
  });
});

describe('evaluation problems are refused before anything starts', () => {
  test('reference models with no stage whose settings could train them fail validation', () => {
    const text = pipelineYaml('refs', '  baselineSearch: {}\n  evaluation:\n    referenceModels: [efficientnet-b0]\n');
    expect(() => parsePipelineText(text, 'refs.yaml')).toThrow(/stages\.evaluation\.referenceModels: reference models are trained with the settings of stages\.elasticTraining/);
  });

  test('an evaluation with nothing trained to evaluate is refused by nas run', async () => {
    const file = writePipeline('untrained', pipelineYaml('untrained', '  baselineSearch: { strategy: { plugin: random }, target: this-cpu }\n  evaluation: {}\n'));
    const out = await runCli(['run', file, '--work-dir', join(root, 'untrained-work')], cleanEnv(), 60_000);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('stages.evaluation: nothing trained to evaluate');
    expect(out.stderr).toContain('nothing was started');
  });

  test('EfficientNet references with only the train stage are refused: it trains small CNNs only', async () => {
    const file = writePipeline('train-refs', pipelineYaml('train-refs', '  train: {}\n  evaluation:\n    referenceModels: [small-cnn, efficientnet-b1]\n'));
    const out = await runCli(['run', file, '--work-dir', join(root, 'train-refs-work')], cleanEnv(), 60_000);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('stages.evaluation.referenceModels: efficientnet-b1');
  });
});
