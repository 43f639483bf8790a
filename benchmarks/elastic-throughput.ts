/**
 * Elastic-training throughput with 1 and with 2 worker processes, each pinned to one core
 * (`taskset`), talking to the coordinator over the real HTTP data plane. The per-worker batch is
 * fixed, so two workers process a global batch twice as large per step; the ratio of images/s is
 * the scaling efficiency on this machine.
 *
 *   npx tsx benchmarks/elastic-throughput.ts [--workers 1,2] [--per-worker-batch 64] [--filters 16]
 *       [--arch FILE.arch.json] [--warmup-steps 10] [--steps 60] [--train-subset 20000]
 *
 * `--arch` trains that architecture instead of the small CNN (e.g. the quickstart's phi-1 net,
 * benchmarks/nets/quickstart-phi1.arch.json). `NAS_GRAPH_STEP=0` makes the workers use the eager
 * tape instead of the compiled step, for the before/after comparison.
 *
 * The coordinator runs in this process, unpinned: on a 2-core machine it shares the cores with
 * the workers, which the numbers include.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { backendInfo } from '../engine/backend';
import type { ImageDataset } from '../engine/data/dataset';
import { ElasticCoordinator } from '../engine/elastic/coordinator';
import { readFlatWeights, weightLayout } from '../engine/elastic/flat-weights';
import { runParticipant } from '../engine/elastic/participant';
import { readArchFile } from '../cli/arch-file';
import { buildArchModel } from '../engine/models/arch-model';
import { buildSmallCnn } from '../engine/models/small-cnn';
import { fashionMnistForBenchmark } from './fashion-data';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    'per-worker-batch': { type: 'string', default: '64' },
    filters: { type: 'string', default: '16' },
    arch: { type: 'string' },
    'warmup-steps': { type: 'string', default: '10' },
    steps: { type: 'string', default: '60' },
    'train-subset': { type: 'string', default: '20000' },
    // Internal: this script re-runs itself as a pinned worker process.
    participant: { type: 'boolean', default: false },
    url: { type: 'string' },
    token: { type: 'string' },
  },
});

const buildModel = (data: ImageDataset) =>
  values.arch
    ? buildArchModel(readArchFile(values.arch), { seed: 1 })
    : buildSmallCnn({ height: data.height, width: data.width, channels: data.channels, numClasses: data.numClasses, filters: Number(values.filters), seed: 1 });
const modelName = () => (values.arch ? `arch ${values.arch}` : `small-cnn (filters ${values.filters})`);

const loadData = () => fashionMnistForBenchmark(values['train-subset'], '1000', 1);

async function participant(): Promise<void> {
  const data = loadData();
  await runParticipant({ url: values.url!, token: values.token!, name: `pid ${process.pid}`, model: buildModel(data), data });
}

async function measure(workers: number, data: ImageDataset): Promise<number> {
  const model = buildModel(data);
  const token = `bench-${workers}`;
  const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: data.train.count }, (_, i) => i), {
    policy: 'immediate-linear',
    learningRate: 0.01,
    perWorkerBatch: Number(values['per-worker-batch']),
    maxWorkers: workers,
    windowIterations: 1,
    momentum: 0.9,
    minWorkers: workers,
    epochs: 1000,
    seed: 1,
    checkpointEverySteps: 1_000_000,
    stepTimeoutMs: 120_000,
    token,
  });
  const url = await coordinator.listen('127.0.0.1');
  const children: ChildProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const args = ['-c', String(i % cpus().length), 'npx', 'tsx', __filename, '--participant', '--url', url, '--token', token, '--filters', values.filters!, '--train-subset', values['train-subset']!, ...(values.arch ? ['--arch', values.arch] : [])];
    children.push(spawn('taskset', args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  const warmup = Number(values['warmup-steps']);
  const steps = Number(values.steps);
  let t0 = 0;
  let samples = 0;
  let elapsed = 0;
  await coordinator.run({
    onCheckpoint: async () => {},
    onStep: (e) => {
      if (e.step === warmup - 1) t0 = performance.now();
      else if (e.step >= warmup) samples += e.globalBatch;
      if (e.step === warmup + steps - 1) elapsed = (performance.now() - t0) / 1000;
    },
    shouldStop: () => coordinator.step >= warmup + steps,
  });
  await coordinator.close();
  await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('close', resolve)))));
  model.dispose();
  return samples / elapsed;
}

async function main() {
  if (values.participant) return participant();
  const data = loadData();
  const info = backendInfo();
  console.log(`${info.package} (${info.backend}), ${cpus().length} CPUs; ${modelName()}, step ${process.env.NAS_GRAPH_STEP === '0' ? 'eager' : 'compiled graph'}, per-worker batch ${values['per-worker-batch']}`);
  console.log(`command: npx tsx benchmarks/elastic-throughput.ts ${['workers', 'per-worker-batch', 'filters', 'arch', 'warmup-steps', 'steps', 'train-subset'].filter((k) => values[k as keyof typeof values] !== undefined).map((k) => `--${k} ${values[k as keyof typeof values]}`).join(' ')}`);
  const results: { workers: number; imagesPerSecond: number }[] = [];
  for (const workers of values.workers!.split(',').map(Number)) {
    const imagesPerSecond = await measure(workers, data);
    results.push({ workers, imagesPerSecond });
    console.log(`  ${workers} worker process${workers === 1 ? '' : 'es'} (one core each): ${imagesPerSecond.toFixed(0)} images/s`);
  }
  const one = results.find((r) => r.workers === 1);
  for (const r of results) if (one && r !== one) console.log(`  ratio ${r.workers} : 1 = ${(r.imagesPerSecond / one.imagesPerSecond).toFixed(2)}x (ideal ${r.workers}x)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
