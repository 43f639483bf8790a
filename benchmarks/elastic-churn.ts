/**
 * Issue 7's experiment: the three learning-rate policies under worker churn against a fixed number
 * of workers, on Fashion-MNIST. Every run uses the real coordinator and real workers talking over
 * loopback HTTP (in one process, so they compute in turn: this measures convergence, not speed);
 * the schedule moves the number of workers at fixed fractions of the run.
 *
 *   npx tsx benchmarks/elastic-churn.ts [--schedule 4,1,4,2] [--fixed 4] [--epochs 4]
 *       [--per-worker-batch 32] [--lr 0.02] [--window 50] [--momentum 0.9] [--filters 16]
 *       [--train-subset N] [--test-subset N] [--seed 1] [--around 20]
 *
 * Prints, per run: final test accuracy, and the mean training loss over the `--around` steps
 * before and after each change of workers.
 */
import { parseArgs } from 'node:util';
import { backendInfo } from '../engine/backend';
import type { ImageDataset } from '../engine/data/dataset';
import { ElasticCoordinator, type StepLogEntry } from '../engine/elastic/coordinator';
import { readFlatWeights, weightLayout, writeFlatWeights } from '../engine/elastic/flat-weights';
import type { ElasticPolicyName } from '../engine/elastic/lr-policy';
import { runParticipant } from '../engine/elastic/participant';
import { buildSmallCnn } from '../engine/models/small-cnn';
import { evaluateClassifier } from '../engine/train/evaluate';
import { fashionMnistForBenchmark } from './fashion-data';

const { values } = parseArgs({
  options: {
    schedule: { type: 'string', default: '4,1,4,2' },
    fixed: { type: 'string', default: '4' },
    epochs: { type: 'string', default: '4' },
    'per-worker-batch': { type: 'string', default: '32' },
    lr: { type: 'string', default: '0.02' },
    window: { type: 'string', default: '50' },
    momentum: { type: 'string', default: '0.9' },
    filters: { type: 'string', default: '16' },
    'train-subset': { type: 'string' },
    'test-subset': { type: 'string' },
    seed: { type: 'string', default: '1' },
    around: { type: 'string', default: '20' },
    policies: { type: 'string', default: 'fixed-global-batch,immediate-linear,dynamic-sgd' },
  },
});

interface RunResult {
  label: string;
  accuracy: number;
  log: StepLogEntry[];
  seconds: number;
}

const model = (data: ImageDataset, seed: number) =>
  buildSmallCnn({ height: data.height, width: data.width, channels: data.channels, numClasses: data.numClasses, filters: Number(values.filters), seed });

/** One training run; `workersAt(fraction)` says how many workers the schedule wants at that point of the run. */
async function trainRun(label: string, policy: ElasticPolicyName, data: ImageDataset, workersAt: (fraction: number) => number, maxWorkers: number): Promise<RunResult> {
  const seed = Number(values.seed);
  const initial = model(data, seed);
  const coordinator = new ElasticCoordinator(weightLayout(initial), readFlatWeights(initial), Uint32Array.from({ length: data.train.count }, (_, i) => i), {
    policy,
    learningRate: Number(values.lr),
    perWorkerBatch: Number(values['per-worker-batch']),
    maxWorkers,
    windowIterations: Number(values.window),
    momentum: Number(values.momentum),
    minWorkers: 1,
    epochs: Number(values.epochs),
    seed,
    checkpointEverySteps: 1_000_000,
    stepTimeoutMs: 60_000,
    token: 'benchmark',
    pollHoldMs: 1000,
  });
  const url = await coordinator.listen('127.0.0.1');
  const running: { stop: AbortController; done: Promise<unknown> }[] = [];
  let started = 0;
  const resize = (k: number) => {
    while (running.length < k) {
      const stop = new AbortController();
      const id = started++;
      running.push({ stop, done: runParticipant({ url, token: 'benchmark', name: `w${id}`, model: model(data, 100 + id), data, signal: stop.signal }) });
    }
    while (running.length > k) running.pop()!.stop.abort();
  };
  const log: StepLogEntry[] = [];
  const t0 = Date.now();
  resize(workersAt(0));
  let lastPrinted = 0;
  await coordinator.run({
    onCheckpoint: async () => {},
    onStep: (e) => {
      log.push(e);
      const fraction = coordinator.samplesDone / coordinator.samplesTotal;
      resize(workersAt(fraction));
      if (Date.now() - lastPrinted > 15_000) {
        lastPrinted = Date.now();
        console.log(`  [${label}] ${(100 * fraction).toFixed(0)}%  step ${e.step}  workers ${e.workers.length}  lr ${e.learningRate.toFixed(4)}  loss ${e.loss.toFixed(4)}`);
      }
    },
  });
  resize(0);
  await coordinator.close(200);
  await Promise.all(running.map((r) => r.done));
  const trained = model(data, seed);
  writeFlatWeights(trained, coordinator.weights);
  const accuracy = evaluateClassifier(trained, data, data.test).accuracy;
  trained.dispose();
  initial.dispose();
  return { label, accuracy, log, seconds: (Date.now() - t0) / 1000 };
}

/** Steps at which the number of workers changed. */
function changes(log: StepLogEntry[]): number[] {
  const at: number[] = [];
  for (let i = 1; i < log.length; i++) if (log[i].workers.length !== log[i - 1].workers.length) at.push(i);
  return at;
}

const meanLoss = (entries: StepLogEntry[]) => entries.reduce((a, e) => a + e.loss, 0) / Math.max(1, entries.length);

async function main() {
  const data = fashionMnistForBenchmark(values['train-subset'], values['test-subset'], Number(values.seed));
  const schedule = values.schedule!.split(',').map(Number);
  const fixed = Number(values.fixed);
  const maxWorkers = Math.max(fixed, ...schedule);
  const info = backendInfo();
  console.log(`Fashion-MNIST ${data.train.count} train / ${data.test.count} test; ${info.package} (${info.backend})`);
  console.log(`command: npx tsx benchmarks/elastic-churn.ts ${Object.entries(values).map(([k, v]) => `--${k} ${v}`).join(' ')}`);
  const byFraction = (f: number) => schedule[Math.min(schedule.length - 1, Math.floor(f * schedule.length))];

  const results: RunResult[] = [];
  results.push(await trainRun(`fixed ${fixed} workers`, 'immediate-linear', data, () => fixed, maxWorkers));
  for (const policy of values.policies!.split(',') as ElasticPolicyName[]) {
    results.push(await trainRun(`${policy}, churn ${schedule.join('-')}`, policy, data, byFraction, maxWorkers));
  }

  const around = Number(values.around);
  const churnChanges = changes(results[results.length - 1].log);
  console.log(`\nworkers over the run: ${schedule.join(' -> ')} (each for 1/${schedule.length} of the samples); loss = mean training loss of the ${around} steps before | after each change`);
  const header = ['run', 'test acc', 'steps', 'wall s', ...churnChanges.map((_, i) => `change ${i + 1} loss`)];
  const rows = results.map((r) => {
    const at = changes(r.log);
    const cells = at.map((i) => `${meanLoss(r.log.slice(Math.max(0, i - around), i)).toFixed(4)} | ${meanLoss(r.log.slice(i, i + around)).toFixed(4)}`);
    return [r.label, `${(100 * r.accuracy).toFixed(2)}%`, String(r.log.length), r.seconds.toFixed(0), ...cells];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  const fixedAcc = results[0].accuracy;
  for (const r of results.slice(1)) console.log(`  ${r.label}: ${(100 * (r.accuracy - fixedAcc)).toFixed(2)} points vs fixed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
