/**
 * The ProxylessNAS hardware experiment of issue 5 ("Must show", experiment bullet):
 *
 * 1. For each target (node-cpu, wasm): measure the per-op latency table of the search space on
 *    that target, run a ProxylessNAS search (`--strategy`) with latency weight lambda against it (the
 *    same seed, data and schedule for every target, so only the table differs) and derive the
 *    architecture.
 * 2. Cross-latency: every derived architecture timed as a whole model on every target. The claim:
 *    each target's net is faster on its own target than the other target's net.
 * 3. Fashion-MNIST: for seeds 1..S, train the net searched for `--target` and N random nets of the
 *    same space whose table latency lies within +-band of the searched one's; compare test accuracy.
 *
 *   npx tsx benchmarks/proxyless-hardware-experiment.ts [--targets node-cpu,wasm] [--target node-cpu]
 *       [--lambda 0.1] [--search-epochs 30] [--warmup-epochs 5] [--batch 64] [--lr 0.05]
 *       [--arch-lr 0.006] [--val-fraction 0.1] [--train-epochs 15] [--train-lr 0.05] [--seeds 3]
 *       [--random 5] [--latency-band 0.1] [--train-subset N] [--test-subset N] [--seed 1]
 *       [--repeats 2,3,3] [--op-repeats 20] [--op-passes 3] [--model-repeats 50] [--latency-rounds 3] [--se false]
 *       [--stem-stride 1] [--search-subset N] [--jobs 1] [--strategy gradient|reinforce]
 *       [--latency-target-quantile q] [--baseline-decay 0.99] [--state FILE] [--dry-run]
 *       [--supernet-rank 30] [--rescore] [--proxy-epochs 0] [--band-trials 0] [--band-trial-epochs 1]
 *       [--band-finalists 0] [--band-finalist-epochs 3]
 *
 * `--strategy reinforce` searches with proxyless-reinforce (reward: batch accuracy of one sampled
 * net minus the latency term) instead of the gradient through binarised gates.
 * `--latency-target-quantile q` aims the search at a latency instead of pricing every ms: the
 * term becomes lambda * |LAT / T - 1| (TuNAS's absolute reward), with T the q-quantile of the
 * table latency of uniformly drawn nets of the space, so T means the same on a fast or slow day.
 * `--search-subset N` searches on a seeded N-image subset of the training images the compared nets
 * train on (the search is the expensive part; the comparison is what wants all the data).
 * `--jobs N` trains the compared nets in N single-threaded child processes, pinned one per core.
 * `--state FILE` keeps the latency tables, searches and every trained net's result in FILE
 * (benchmarks/experiment-state.ts), so a rerun after a kill, or with more `--seeds` or `--random`,
 * trains only what is missing; the nets left are trained in slot order (every seed's searched net,
 * then every seed's first random net, ...) so a run stopped early still compares every seed.
 * `--dry-run` stops before training and lists which nets would be trained and which are reused (a
 * search the state does not hold still runs first).
 * `--supernet-rank K`: after the search, the trained supernet scores the searched net, K random
 * nets of its latency band and every compared net (validation accuracy, BatchNorm recalibrated per
 * net): where the searched net ranks in its band, and, once the compared nets are trained, Kendall's
 * tau between the supernet's scores and their test accuracy. `--rescore` runs a search the state
 * holds again (on its saved table) only to score that saved comparison's nets; nothing saved changes.
 * `--proxy-epochs E` is the control: every net the state holds trained again for E epochs alone,
 * and Kendall's tau between that short training's accuracy and the full training's.
 * `--band-trials N` adds a multi-trial search inside the one-shot net's latency band: it and N nets
 * of the band no slower than it, each trained alone `--band-trial-epochs` on the training images
 * less the validation split; the best on that split is the searched net compared (the random nets
 * are still drawn around the one-shot net, so a state's trained random nets are reused).
 * `--band-finalists K` trains the K best trials again for `--band-finalist-epochs` and picks the
 * best of those instead.
 *
 * The search is the one-shot search's own epoch (engine/supernet/trainer.ts, which the search
 * activity runs too): BatchNorm momentum 0.9, cosine learning rate over all search steps, one
 * weight step per training batch and, from epoch `--warmup-epochs` on, an architecture step on the
 * next validation batch after every weight step; Adam on alpha (betas 0, 0.999), two sampled paths
 * per mixed op. `--arch-lr` and `--baseline-decay` default to the plugins' own defaults (those of
 * proxyless-gradient and proxyless-reinforce); `--arch-lr` is proxyless-gradient's for
 * `--strategy reinforce` as well, as it always was here (proxyless-reinforce's own is 0.001), so
 * that saved searches keep matching their flags. The default space is ProxylessNAS-like and
 * sized for a 2-core CPU at 28x28: stem 16 ch stride 1 (`--stem-stride 2` quarters every block's cost, as the quickstart does); stages 16 (stride 1), 24 and 40 (stride
 * 2) channels with repeats from `--repeats`; per block k in {3,5,7} x e in {3,6} and the zero op
 * after a stage's first block; no SE (as in ProxylessNAS; `--se true` makes every block use it);
 * head 128.
 *
 * Latency is batch 1, as the targets' tables are. Latency on a shared machine is noisy: whole
 * models are timed in `--latency-rounds` interleaved rounds and the median of the rounds' medians
 * is reported, and the table-predicted latency (sum of the table's entries) is printed beside it.
 */
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { SearchSpaceSchema, decisionsOf, type SearchSpace } from '../dsl/search-space';
import { decodeBlock, encodeBlock } from '../engine/arch/block-string';
import { archFromChoices, choicesFromBlocks } from '../engine/arch/from-choices';
import type { ArchSpec } from '../engine/arch/spec';
import { backendInfo, loadTf } from '../engine/backend';
import { epochOrder, imageBatches, makeBatch } from '../engine/data/batches';
import type { ImageDataset } from '../engine/data/dataset';
import { selectSamples, splitIndices, subsetDataset } from '../engine/data/split';
import { prepareWasmBackend, withBackend } from '../engine/latency/backends';
import { measureOpTable } from '../engine/latency/build-table';
import { countMacs } from '../engine/latency/macs';
import { distinctOps, enumerateSpaceOps, type SpaceOps } from '../engine/latency/space-ops';
import { fixedLatencyMs, latencyMatrix, type OpLatencyTable } from '../engine/latency/table';
import { spaceHash, tableHash } from '../engine/latency/table-key';
import { measureLatency } from '../engine/latency/timing';
import { buildArchModel } from '../engine/models/arch-model';
import { mixSeed, mulberry32 } from '../core/random';
import { Supernet } from '../engine/supernet';
import { CALIBRATION_EXAMPLES, SUPERNET_BATCH_NORM, SupernetTrainer } from '../engine/supernet/trainer';
import { proxylessGradient, proxylessReinforce } from '../plugins/builtin/proxyless';
import type { LatencyTarget } from '../engine/supernet/latency-objective';
import { drawInLatencyBand } from '../engine/supernet/latency-band';
import { ClassifierTrainer } from '../engine/train/classifier-trainer';
import { nodeCpu, wasm } from '../plugins/builtin/targets';
import { ExperimentState, type ExperimentFlags, type SearchedTarget } from './experiment-state';
import { kendallTau } from './rank-correlation';
import { fashionMnistForBenchmark } from './fashion-data';

const SCRIPT = 'benchmarks/proxyless-hardware-experiment.ts';

const GRADIENT_DEFAULTS = proxylessGradient.configSchema.parse({});
const REINFORCE_DEFAULTS = proxylessReinforce.configSchema.parse({});

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'node-cpu,wasm' },
    target: { type: 'string', default: 'node-cpu' },
    lambda: { type: 'string', default: '0.1' },
    strategy: { type: 'string', default: 'gradient' },
    'latency-target-quantile': { type: 'string' },
    'baseline-decay': { type: 'string', default: String(REINFORCE_DEFAULTS.baselineDecay) },
    'search-epochs': { type: 'string', default: '30' },
    'warmup-epochs': { type: 'string', default: '5' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.05' },
    'arch-lr': { type: 'string', default: String(GRADIENT_DEFAULTS.archLearningRate) },
    'val-fraction': { type: 'string', default: '0.1' },
    'train-epochs': { type: 'string', default: '15' },
    'train-lr': { type: 'string', default: '0.05' },
    'label-smoothing': { type: 'string', default: '0.1' },
    seeds: { type: 'string', default: '3' },
    random: { type: 'string', default: '5' },
    'latency-band': { type: 'string', default: '0.1' },
    'train-subset': { type: 'string' },
    'search-subset': { type: 'string' },
    jobs: { type: 'string', default: '1' },
    'test-subset': { type: 'string' },
    seed: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '2,3,3' },
    se: { type: 'string', default: 'false' },
    'stem-stride': { type: 'string', default: '1' },
    'op-repeats': { type: 'string', default: '20' },
    'op-passes': { type: 'string', default: '3' },
    'model-repeats': { type: 'string', default: '50' },
    'latency-rounds': { type: 'string', default: '3' },
    state: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    'supernet-rank': { type: 'string', default: '30' },
    'proxy-epochs': { type: 'string', default: '0' },
    rescore: { type: 'boolean', default: false },
    'band-trials': { type: 'string', default: '0' },
    'band-trial-epochs': { type: 'string', default: '1' },
    'band-finalists': { type: 'string', default: '0' },
    'band-finalist-epochs': { type: 'string', default: '3' },
  },
  strict: true,
});

type TargetName = 'node-cpu' | 'wasm';
const TARGETS: TargetName[] = ['node-cpu', 'wasm'];

function num(flag: keyof typeof values): number {
  const v = Number(values[flag]);
  if (!Number.isFinite(v)) throw new Error(`--${flag} must be a number, got "${values[flag]}"`);
  return v;
}

const cfg = {
  targets: values.targets!.split(',').map((s) => s.trim()) as TargetName[],
  target: values.target as TargetName,
  lambda: num('lambda'),
  strategy: values.strategy === 'reinforce' ? ('proxyless-reinforce' as const) : ('proxyless-gradient' as const),
  targetQuantile: values['latency-target-quantile'] === undefined ? undefined : num('latency-target-quantile'),
  baselineDecay: num('baseline-decay'),
  searchEpochs: num('search-epochs'),
  warmupEpochs: num('warmup-epochs'),
  batch: num('batch'),
  lr: num('lr'),
  archLr: num('arch-lr'),
  valFraction: num('val-fraction'),
  trainEpochs: num('train-epochs'),
  trainLr: num('train-lr'),
  labelSmoothing: num('label-smoothing'),
  seeds: num('seeds'),
  random: num('random'),
  band: num('latency-band'),
  seed: num('seed'),
  repeats: values.repeats!.split(',').map(Number),
  se: values.se === 'true',
  stemStride: num('stem-stride'),
  opRepeats: num('op-repeats'),
  opPasses: Math.max(1, num('op-passes')),
  modelRepeats: num('model-repeats'),
  latencyRounds: num('latency-rounds'),
  jobs: num('jobs'),
  supernetRank: num('supernet-rank'),
  proxyEpochs: num('proxy-epochs'),
  bandTrials: num('band-trials'),
  bandTrialEpochs: num('band-trial-epochs'),
  bandFinalists: num('band-finalists'),
  bandFinalistEpochs: num('band-finalist-epochs'),
};
for (const t of [...cfg.targets, cfg.target]) if (!TARGETS.includes(t)) throw new Error(`unknown target "${t}": use ${TARGETS.join(' or ')}`);
if (!cfg.targets.includes(cfg.target)) throw new Error(`--target ${cfg.target} must be one of --targets ${cfg.targets.join(',')}`);
if (values.strategy !== 'gradient' && values.strategy !== 'reinforce') throw new Error(`--strategy takes gradient or reinforce, got ${values.strategy}`);
if (cfg.targetQuantile !== undefined && !(cfg.targetQuantile > 0 && cfg.targetQuantile < 1)) throw new Error(`--latency-target-quantile takes a number in (0, 1), got ${cfg.targetQuantile}`);
if (cfg.stemStride !== 1 && cfg.stemStride !== 2) throw new Error(`--stem-stride takes 1 or 2, got ${cfg.stemStride}`);
if (!Number.isInteger(cfg.jobs) || cfg.jobs < 1) throw new Error(`--jobs takes a positive integer, got ${cfg.jobs}`);
if (!Number.isInteger(cfg.supernetRank) || cfg.supernetRank < 0) throw new Error(`--supernet-rank takes a whole number of nets, got ${cfg.supernetRank}`);
if (!Number.isInteger(cfg.proxyEpochs) || cfg.proxyEpochs < 0) throw new Error(`--proxy-epochs takes a whole number of epochs, got ${cfg.proxyEpochs}`);
if (!Number.isInteger(cfg.bandTrials) || cfg.bandTrials < 0) throw new Error(`--band-trials takes a whole number of nets, got ${cfg.bandTrials}`);
if (!Number.isInteger(cfg.bandTrialEpochs) || cfg.bandTrialEpochs < 1) throw new Error(`--band-trial-epochs takes a positive whole number of epochs, got ${cfg.bandTrialEpochs}`);
if (!Number.isInteger(cfg.bandFinalists) || cfg.bandFinalists < 0) throw new Error(`--band-finalists takes a whole number of nets, got ${cfg.bandFinalists}`);
if (cfg.bandFinalists > 0 && cfg.bandTrials === 0) throw new Error('--band-finalists retrains the best band trials: give --band-trials N too');
if (!Number.isInteger(cfg.bandFinalistEpochs) || cfg.bandFinalistEpochs <= cfg.bandTrialEpochs) throw new Error(`--band-finalist-epochs takes a whole number of epochs above --band-trial-epochs (${cfg.bandTrialEpochs}), got ${cfg.bandFinalistEpochs}`);
if (cfg.proxyEpochs > 0 && !values.state) throw new Error('--proxy-epochs ranks the nets a state holds: give --state FILE');
if (values.rescore && !values.state) throw new Error('--rescore retrains the supernet of a search the state holds: give --state FILE');
if (cfg.repeats.length !== 3 || cfg.repeats.some((r) => !Number.isInteger(r) || r < 1)) throw new Error('--repeats takes three positive integers, e.g. 2,3,3');

function command(): string {
  const flags = Object.entries(values)
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`));
  return `npx tsx ${SCRIPT} ${flags.join(' ')}`;
}

/** The space's shape and the training images, which both the searches and the compared nets depend on. */
const spaceFlags: ExperimentFlags = { repeats: cfg.repeats.join(','), se: cfg.se, stemStride: cfg.stemStride, trainSubset: values['train-subset'] ?? 'all' };
/** What decides a target's table and search (each target's search is independent of the others). */
const searchFlags: ExperimentFlags = {
  ...spaceFlags,
  lambda: cfg.lambda,
  strategy: cfg.strategy,
  latencyTargetQuantile: cfg.targetQuantile ?? 'none',
  baselineDecay: cfg.baselineDecay,
  searchEpochs: cfg.searchEpochs,
  warmupEpochs: cfg.warmupEpochs,
  batch: cfg.batch,
  lr: cfg.lr,
  archLr: cfg.archLr,
  valFraction: cfg.valFraction,
  seed: cfg.seed,
  opRepeats: cfg.opRepeats,
  opPasses: cfg.opPasses,
  searchSubset: values['search-subset'] ?? 'all',
};
/** What decides a compared net's test accuracy, beside its architecture and seed. */
const trainFlags: ExperimentFlags = {
  ...spaceFlags,
  trainEpochs: cfg.trainEpochs,
  trainLr: cfg.trainLr,
  labelSmoothing: cfg.labelSmoothing,
  batch: cfg.batch,
  dataSeed: cfg.seed,
  testSubset: values['test-subset'] ?? 'all',
};

/** What decides a band trial's validation accuracy, beside its architecture and epochs (`--band-trials`, `--band-finalists`). */
const trialFlagsFor = (epochs: number): ExperimentFlags => ({
  ...spaceFlags,
  trainEpochs: epochs,
  trainLr: cfg.trainLr,
  labelSmoothing: cfg.labelSmoothing,
  batch: cfg.batch,
  dataSeed: cfg.seed,
  scoredOn: 'validation',
  valFraction: cfg.valFraction,
});
const trialFlags = trialFlagsFor(cfg.bandTrialEpochs);
const finalistFlags = trialFlagsFor(cfg.bandFinalistEpochs);

const BN = { momentum: 0.9, epsilon: 1e-3 };
const RESOLUTION = 28;
const tf = loadTf();

const space: SearchSpace = SearchSpaceSchema.parse({
  inputResolution: RESOLUTION,
  stem: { channels: 16, kernel: 3, stride: cfg.stemStride },
  stages: [
    { channels: 16, repeats: cfg.repeats[0], stride: 1, kernels: [3, 5, 7], expansions: [3, 6], se: [cfg.se], skip: true },
    { channels: 24, repeats: cfg.repeats[1], stride: 2, kernels: [3, 5, 7], expansions: [3, 6], se: [cfg.se], skip: true },
    { channels: 40, repeats: cfg.repeats[2], stride: 2, kernels: [3, 5, 7], expansions: [3, 6], se: [cfg.se], skip: true },
  ],
  head: { channels: 128, dropout: 0 },
});
const decisions = decisionsOf(space);

// ---------------------------------------------------------------------------------------------
// Small helpers

const phases: { name: string; seconds: number }[] = [];
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  console.log(`\n=== ${name}`);
  try {
    return await fn();
  } finally {
    const seconds = (Date.now() - start) / 1000;
    phases.push({ name, seconds });
    console.log(`--- ${name}: ${seconds.toFixed(1)} s wall`);
  }
}

function table(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => '  ' + headers.map((_, c) => r[c] ?? '').map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  console.log(line(headers));
  console.log('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = (s.length - 1) / 2;
  return (s[Math.floor(m)] + s[Math.ceil(m)]) / 2;
};
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (x: number) => x.toFixed(3);

function archOf(choices: readonly number[], name: string): ArchSpec {
  const arch = archFromChoices(space, choices, { resolution: RESOLUTION, inputChannels: 1, numClasses: 10, name });
  return { ...arch, batchNorm: BN };
}

function blocksOf(arch: ArchSpec): string {
  return arch.blocks.map(encodeBlock).join(' ');
}

/** The way back from `blocksOf`, for nets the state knows only by their block string (see choicesFromBlocks). */
function choicesOfNet(blocks: string): number[] | undefined {
  return choicesFromBlocks(space, blocks.split(' ').map(decodeBlock));
}

/** Table latency of one choice vector: its options' entries plus the fixed ops (stem, head, pool, classifier). */
function tableLatency(choices: readonly number[], matrix: number[][], fixedMs: number): number {
  return fixedMs + choices.reduce((s, j, d) => s + matrix[d][j], 0);
}

// ---------------------------------------------------------------------------------------------
// 1. Latency tables and searches

type TargetResult = SearchedTarget & { target: TargetName; arch: ArchSpec };

async function buildTable(target: TargetName, spaceOps: SpaceOps): Promise<OpLatencyTable> {
  const ops = distinctOps(spaceOps);
  const timing = { batchSize: 1, warmupRuns: 5, repeats: cfg.opRepeats };
  const heartbeat = () => {};
  let measure: (op: (typeof ops)[number]) => Promise<{ medianMs: number; p90Ms?: number; repeats: number }>;
  let plugin: { name: string; version: string };
  let config: unknown;
  if (target === 'node-cpu') {
    const c = nodeCpu.configSchema.parse({ backend: 'tensorflow', ...timing });
    config = c;
    plugin = nodeCpu;
    measure = (op) => nodeCpu.measureOp!(op, { config: c, heartbeat });
  } else {
    const c = wasm.configSchema.parse({ threads: 1, simd: true, ...timing });
    config = c;
    plugin = wasm;
    measure = (op) => wasm.measureOp!(op, { config: c, heartbeat });
  }
  const sh = spaceHash(ops);
  const identity = { plugin: plugin.name, version: plugin.version, config };
  // Several full passes, combined per op by the median: a load spike on a shared machine then
  // spoils one pass's entry, not the table the search follows.
  const passes: OpLatencyTable[] = [];
  for (let p = 0; p < cfg.opPasses; p++) passes.push(await measureOpTable(ops, measure, { target: identity, spaceHash: sh, hash: tableHash(sh, identity) }));
  const spreads: number[] = [];
  const entries = passes[0].entries.map((e, i) => {
    const medians = passes.map((t) => t.entries[i].medianMs);
    const m = median(medians);
    spreads.push(m > 0 ? (Math.max(...medians) - Math.min(...medians)) / m : 0);
    return { ...e, medianMs: m, p90Ms: median(passes.map((t) => t.entries[i].p90Ms ?? t.entries[i].medianMs)), repeats: passes.reduce((s, t) => s + (t.entries[i].repeats ?? 0), 0) };
  });
  if (cfg.opPasses > 1) console.log(`  ${cfg.opPasses} passes; spread (max - min) / median per op: median ${(median(spreads) * 100).toFixed(0)}%, worst ${(Math.max(...spreads) * 100).toFixed(0)}%`);
  return { ...passes[0], entries };
}

function printTable(matrix: number[][], fixedMs: number, latencyTargetMs: number | undefined): void {
  console.log(`  fixed ops (stem, head, pool, classifier) ${ms(fixedMs)} ms`);
  const rows = decisions.map((d, i) => [d.id, ...matrix[i].map((v, j) => (d.options[j] === 'zero' ? '0' : ms(v)))]);
  table(['decision', 'k3e3', 'k3e6', 'k5e3', 'k5e6', 'k7e3', 'k7e6', 'zero'], rows);
  if (latencyTargetMs !== undefined) console.log(`  latency target: ${ms(latencyTargetMs)} ms, the ${cfg.targetQuantile} quantile of the table latency of 10,000 uniformly drawn nets of the space`);
}

/** A finished search, with its supernet kept for scoring other nets of the space on it; `dispose` frees it. */
interface SearchOutcome {
  choices: number[];
  expectedLatencyMs: number;
  /** Validation accuracy of one net of the space on the trained supernet, its BatchNorm statistics re-estimated first. */
  score(choices: readonly number[]): number;
  /** What `score` reads: the training images BatchNorm is re-estimated on and the validation images scored. */
  scoredOn: { calibration: number; validation: number };
  dispose(): void;
}

async function search(target: TargetName, matrix: number[][], data: ImageDataset, latencyTarget?: LatencyTarget): Promise<SearchOutcome> {
  const split = splitIndices(data.train.count, cfg.valFraction, cfg.seed);
  const net = new Supernet({
    space,
    numClasses: data.numClasses,
    inputChannels: data.channels,
    resolution: RESOLUTION,
    seed: cfg.seed,
    // Config left out is the plugins' defaults (two sampled paths, no weight decay on alpha).
    strategy:
      cfg.strategy === 'proxyless-reinforce'
        ? { plugin: proxylessReinforce, config: { archLearningRate: cfg.archLr, baselineDecay: cfg.baselineDecay } }
        : { plugin: proxylessGradient, config: { archLearningRate: cfg.archLr } },
    bn: SUPERNET_BATCH_NORM,
    weightOptimizer: { learningRate: cfg.lr },
    latencyTable: matrix,
    latencyWeight: cfg.lambda,
    latencyTarget,
  });
  try {
    const trainer = new SupernetTrainer(net, data, split, { seed: cfg.seed, epochs: cfg.searchEpochs, warmupEpochs: cfg.warmupEpochs, batchSize: cfg.batch, learningRate: cfg.lr });
    const rows: (string | number)[][] = [];
    for (let epoch = 0; epoch < cfg.searchEpochs; epoch++) {
      const started = Date.now();
      const { derived, meanLoss, meanEntropy, validationAccuracy } = await trainer.trainEpoch(epoch);
      rows.push([
        epoch + 1,
        epoch >= cfg.warmupEpochs ? 'yes' : 'warm-up',
        meanLoss === undefined ? '-' : meanLoss.toFixed(4),
        meanEntropy.toFixed(3),
        ms(net.expectedLatency().expected),
        ms(tableLatency(derived.choices, matrix, 0)),
        pct(validationAccuracy),
        ((Date.now() - started) / 1000).toFixed(0),
      ]);
      console.log(`  [${target}] epoch ${epoch + 1}/${cfg.searchEpochs} done (${net.weightSteps} weight / ${net.archSteps} arch steps)`);
    }
    table(['epoch', 'arch steps', 'train loss', 'mean entropy', 'E[LAT] ms', 'argmax LAT ms', 'val acc (argmax, BN recalibrated)', 's'], rows);
    const derived = net.derive();
    console.log('  final path probabilities (per decision; options k3e3 k3e6 k5e3 k5e6 k7e3 k7e6 [zero]):');
    derived.probabilities.forEach((p, d) => console.log(`    ${decisions[d].id}: ${p.map((q) => q.toFixed(3)).join(' ')}  -> ${optionName(d, derived.choices[d])}`));
    // Every scored net sees the same calibration images and the whole validation split, so
    // scores differ by architecture only.
    const calibration = imageBatches(data, data.train, Uint32Array.from(epochOrder(split.train.length, cfg.seed, cfg.searchEpochs).subarray(0, CALIBRATION_EXAMPLES), (i) => split.train[i]), cfg.batch);
    const validation = makeBatch(data, data.train, split.validation);
    return {
      choices: derived.choices,
      expectedLatencyMs: net.expectedLatency().expected,
      scoredOn: { calibration: Math.min(CALIBRATION_EXAMPLES, split.train.length), validation: split.validation.length },
      score: (choices) => {
        net.recalibrateBatchNorm(calibration, choices);
        return net.accuracy(validation, choices);
      },
      dispose: () => {
        tf.dispose([...calibration, validation.xs, validation.ys]);
        net.dispose();
      },
    };
  } catch (err) {
    net.dispose();
    throw err;
  }
}

function optionName(d: number, j: number): string {
  const o = decisions[d].options[j];
  return o === 'zero' ? 'zero' : `k${o.kernel}e${o.expansion}${o.se ? 'se' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// 2. Whole-model latency

async function modelLatency(arch: ArchSpec, target: TargetName): Promise<number> {
  const timing = { batchSize: 1, warmupRuns: 10, repeats: cfg.modelRepeats };
  const inputShape = [RESOLUTION, RESOLUTION, 1];
  const backend = target === 'node-cpu' ? 'tensorflow' : 'wasm';
  const prepare = target === 'wasm' ? () => prepareWasmBackend({ simd: true, threads: 1 }) : undefined;
  // Built inside withBackend, so the weights live on the measured backend (as the wasm target's measureModel does).
  const result = await withBackend(
    backend,
    async () => {
      const model = buildArchModel(arch, { inferenceOnly: true });
      try {
        return await measureLatency(model, inputShape, timing);
      } finally {
        model.dispose();
      }
    },
    prepare,
  );
  return result.medianMs;
}

// ---------------------------------------------------------------------------------------------
// 3. Searched versus random nets of similar latency

/** The q-quantile of whole-net table latency over uniformly drawn architectures of the space. */
function latencyQuantile(matrix: number[][], fixedMs: number, q: number): number {
  const rand = mulberry32(mixSeed(cfg.seed, 0x9a7e));
  const lats = Array.from({ length: 10_000 }, () => tableLatency(decisions.map((d) => Math.floor(rand() * d.options.length)), matrix, fixedMs)).sort((a, b) => a - b);
  return lats[Math.min(lats.length - 1, Math.floor(q * lats.length))];
}

/**
 * Up to `n` distinct nets other than `searched` drawn uniformly from the space, kept when their
 * table latency lies within `range` (fractions of the searched net's, by default +-`--latency-band`).
 * `salt` keeps draws for different uses of the same seed apart.
 */
function sampleRandom(
  searched: number[],
  matrix: number[][],
  fixedMs: number,
  n: number,
  seed: number,
  { range = [-cfg.band, cfg.band], salt = 0x7a2d0 }: { range?: [number, number]; salt?: number } = {},
): { choices: number[][]; tries: number } {
  const drawn = drawInLatencyBand(decisions, matrix, searched, { count: n, range, rand: mulberry32(mixSeed(seed, salt)), fixedMs });
  return { choices: drawn.choices, tries: drawn.draws };
}

async function trainAndTest(arch: ArchSpec, data: ImageDataset, seed: number, epochs = cfg.trainEpochs): Promise<{ accuracy: number; seconds: number }> {
  const model = buildArchModel(arch, { seed });
  const started = Date.now();
  try {
    const trainer = new ClassifierTrainer(model, data, {
      epochs,
      batchSize: cfg.batch,
      learningRate: cfg.trainLr,
      optimizer: 'momentum',
      momentum: 0.9,
      seed,
      schedule: 'cosine',
      labelSmoothing: cfg.labelSmoothing,
    });
    await trainer.train({ checkpointEverySteps: Number.MAX_SAFE_INTEGER, onCheckpoint: async () => undefined });
    return { accuracy: trainer.evaluate('test').accuracy, seconds: (Date.now() - started) / 1000 };
  } finally {
    model.dispose();
  }
}

interface TrainJob {
  seed: number;
  /** 0 for the searched net, i + 1 for random net i. */
  slot: number;
  choices: number[];
  name: string;
  /** The net's block string: what the state keys it by and what the log prints. */
  blocks: string;
  /** Fewer epochs than `--train-epochs`: a short-training proxy (`--proxy-epochs`, `--band-trials`). */
  epochs?: number;
  /** A search trial (`--band-trials`): trained on the training images less the validation split and scored on that split, never on the test set. */
  holdout?: boolean;
}
type TrainResult = { accuracy: number; seconds: number };
const jobKey = (j: Pick<TrainJob, 'seed' | 'slot'>) => `${j.seed}/${j.slot}`;

let holdoutData: ImageDataset | undefined;
/**
 * What a job trains and is scored on: all training images and the test set, or, for a search
 * trial, the training images less the `--val-fraction` validation split and that split.
 */
function dataFor(job: TrainJob, data: ImageDataset): ImageDataset {
  if (!job.holdout) return data;
  if (!holdoutData) {
    const split = splitIndices(data.train.count, cfg.valFraction, cfg.seed);
    holdoutData = { ...data, train: selectSamples(data, data.train, split.train), test: selectSamples(data, data.train, split.validation) };
  }
  return holdoutData;
}

/** Set in the child processes of `--jobs N`: they train the nets the parent sends them. */
const TRAINER_ENV = 'PROXYLESS_EXPERIMENT_TRAINER';

/**
 * Trains every job, in this process (`--jobs 1`) or spread over `--jobs` child processes. Each
 * child runs TensorFlow single-threaded and, where `taskset` exists, pinned to a core of its own:
 * on this 2-core machine two pinned single-threaded trainings together do far more than one on
 * both cores (benchmarks/README.md). A net's result depends only on its architecture and seed,
 * never on which process trained it.
 */
async function trainAll(jobs: TrainJob[], data: ImageDataset, onDone: (job: TrainJob, r: TrainResult) => Promise<void> | undefined): Promise<Map<string, TrainResult>> {
  const results = new Map<string, TrainResult>();
  if (jobs.length === 0) return results;
  if (cfg.jobs === 1) {
    for (const job of jobs) {
      const r = await trainAndTest(archOf(job.choices, job.name), dataFor(job, data), job.seed, job.epochs);
      results.set(jobKey(job), r);
      await onDone(job, r);
    }
    return results;
  }
  const queue = [...jobs];
  const pin = spawnSync('taskset', ['-V']).status === 0;
  const cores = os.cpus().length;
  const script = process.argv[1];
  const node = [...process.execArgv, script, ...process.argv.slice(2)];
  console.log(`  ${jobs.length} nets on ${Math.min(cfg.jobs, jobs.length)} trainer processes, single-threaded${pin ? ', each pinned to its own core' : ' (taskset not found: not pinned)'}`);
  const trainer = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(pin ? 'taskset' : process.execPath, pin ? ['-c', String(i % cores), process.execPath, ...node] : node, {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, [TRAINER_ENV]: '1', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1' },
      });
      let current: TrainJob | undefined;
      const next = () => {
        current = queue.shift();
        if (current) child.send(current);
        else child.disconnect();
      };
      child.on('message', (m: TrainResult) => {
        const job = current!;
        results.set(jobKey(job), m);
        // The next net is sent once this one's result is saved, so a failed save stops the run.
        Promise.resolve(onDone(job, m)).then(next, reject);
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (current) reject(new Error(`trainer process ${i + 1} exited (${signal ?? `code ${code}`}) while training ${current.name} (seed ${current.seed})`));
        else resolve();
      });
      next();
    });
  await Promise.all(Array.from({ length: Math.min(cfg.jobs, jobs.length) }, (_, i) => trainer(i)));
  return results;
}

/** The results of `jobs` the state holds under `flags`: nets an earlier run of the same experiment trained. */
function savedResults(state: ExperimentState | undefined, flags: ExperimentFlags, jobs: readonly TrainJob[]): Map<string, TrainResult> {
  const results = new Map<string, TrainResult>();
  for (const job of jobs) {
    const earlier = state?.trained(flags, job.seed, job.blocks);
    if (earlier) results.set(jobKey(job), { accuracy: earlier.accuracy, seconds: earlier.seconds });
  }
  return results;
}

/** Trains `pending` (trainAll), printing each net as it finishes and saving it in the state under `flags`. */
function trainAndSave(pending: TrainJob[], data: ImageDataset, state: ExperimentState | undefined, flags: ExperimentFlags, what: (job: TrainJob) => string): Promise<Map<string, TrainResult>> {
  let done = 0;
  return trainAll(pending, data, (job, r) => {
    console.log(`  [${++done}/${pending.length}] ${what(job)}: ${pct(r.accuracy)} in ${r.seconds.toFixed(0)} s (${job.blocks})`);
    return state?.saveTrained({ flags, seed: job.seed, net: job.blocks, ...r });
  });
}

/** The child side of `--jobs N`: train each net the parent sends, answer with its result, exit when the parent lets go. */
function trainerProcess(): void {
  const data = fashionMnistForBenchmark(values['train-subset'], values['test-subset'], cfg.seed);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (job: TrainJob) => {
    trainAndTest(archOf(job.choices, job.name), dataFor(job, data), job.seed, job.epochs).then(
      (r) => process.send!(r),
      (err: unknown) => {
        console.error(`trainer: ${job.name} (seed ${job.seed}) failed:`, err instanceof Error ? (err.stack ?? err.message) : err);
        process.exit(1);
      },
    );
  });
}

const label = (job: TrainJob) => `seed ${job.seed} ${job.slot === 0 ? 'searched' : `random ${job.slot}`}`;

/**
 * The nets the comparison trains: for each seed, the searched net and `--random` nets drawn in the
 * latency band of the one-shot search's net. The searched net is that net, or with `--band-trials`
 * the trials' pick (inside the same band, no slower than its middle).
 */
function comparedJobs(chosen: TargetResult, picked: readonly number[]): { jobs: TrainJob[]; draws: { seed: number; accepted: number; tries: number }[] } {
  const jobs: TrainJob[] = [];
  const draws: { seed: number; accepted: number; tries: number }[] = [];
  const searched = archOf(picked, picked.join(',') === chosen.choices.join(',') ? (chosen.arch.name ?? 'searched') : `band-pick-${cfg.target}`);
  for (let s = 1; s <= cfg.seeds; s++) {
    const sampled = sampleRandom(chosen.choices, chosen.matrix, chosen.fixedMs, cfg.random, s);
    draws.push({ seed: s, accepted: sampled.choices.length, tries: sampled.tries });
    jobs.push({ seed: s, slot: 0, choices: [...picked], name: searched.name ?? 'searched', blocks: blocksOf(searched) });
    sampled.choices.forEach((c, i) => jobs.push({ seed: s, slot: i + 1, choices: c, name: `random-${s}-${i}`, blocks: blocksOf(archOf(c, `random-${s}-${i}`)) }));
  }
  return { jobs, draws };
}

/** Keeps the band trials' draws apart from the compared random nets' draws of the same seed. */
const BAND_TRIAL_SALT = 0xba4d7;

/**
 * `--band-trials N`: a multi-trial search inside the latency band the one-shot search chose. The
 * one-shot net and N nets drawn uniformly from the lower half of its band (no slower than it by the
 * table, so the pick is never bought with latency) are each trained alone for `--band-trial-epochs`
 * on the training images less the validation split; the best validation accuracy is the pick. Why:
 * on this space the supernet does not order nets of one latency band while a 1-epoch standalone
 * training does, if weakly (benchmarks/README.md). The test set is never read. Each trial is saved
 * in the state, so a killed run trains only the trials it lacks.
 */
async function searchInBand(chosen: TargetResult, data: ImageDataset, state: ExperimentState | undefined): Promise<number[]> {
  return phase(`search in the latency band: ${cfg.bandTrials} nets no slower than the one-shot net, ${cfg.bandTrialEpochs}-epoch trials`, async () => {
    const drawn = sampleRandom(chosen.choices, chosen.matrix, chosen.fixedMs, cfg.bandTrials, cfg.seed, { range: [-cfg.band, 0], salt: BAND_TRIAL_SALT });
    const jobs: TrainJob[] = [];
    for (const choices of [chosen.choices, ...drawn.choices]) {
      const blocks = blocksOf(archOf(choices, 'trial'));
      // Choice vectors that differ only in where a stage skips build the same net: one trial each.
      if (jobs.some((j) => j.blocks === blocks)) continue;
      jobs.push({ seed: cfg.seed, slot: jobs.length, choices, name: `trial-${jobs.length}`, blocks, epochs: cfg.bandTrialEpochs, holdout: true });
    }
    const oneShotMs = tableLatency(chosen.choices, chosen.matrix, chosen.fixedMs);
    console.log(
      `  trial 0 is the one-shot net (${ms(oneShotMs)} ms); ${jobs.length - 1} distinct nets drawn between ${ms((1 - cfg.band) * oneShotMs)} and ${ms(oneShotMs)} ms after ${drawn.tries} draws; ` +
        `each trained ${cfg.bandTrialEpochs} epoch(s), seed ${cfg.seed}, on the training images less a ${cfg.valFraction} validation split, scored on that split`,
    );
    const results = savedResults(state, trialFlags, jobs);
    const pending = jobs.filter((j) => !results.has(jobKey(j)));
    if (results.size) console.log(`  ${results.size} trial(s) run before, reused from the state`);
    if (values['dry-run'] && pending.length > 0) {
      console.log(`  --dry-run: ${pending.length} trial(s) to train; the comparison below lists the one-shot net in the searched net's place`);
      return chosen.choices;
    }
    const trained = await trainAndSave(pending, data, state, trialFlags, (job) => `trial ${job.slot} (validation)`);
    for (const [key, r] of trained) results.set(key, r);
    const ranked = [...jobs].sort((a, b) => results.get(jobKey(b))!.accuracy - results.get(jobKey(a))!.accuracy || a.slot - b.slot);
    table(
      ['rank', 'trial', 'table ms', 'val acc', 'blocks'],
      ranked.map((j, i) => [i + 1, j.slot === 0 ? '0 (one-shot)' : j.slot, ms(tableLatency(j.choices, chosen.matrix, chosen.fixedMs)), pct(results.get(jobKey(j))!.accuracy), j.blocks]),
    );
    const pick = cfg.bandFinalists > 0 ? await retrainFinalists(ranked.slice(0, cfg.bandFinalists), results, chosen, data, state) : ranked[0];
    console.log(`  pick: trial ${pick.slot}${pick.slot === 0 ? ' (the one-shot net)' : ''}, ${ms(tableLatency(pick.choices, chosen.matrix, chosen.fixedMs))} ms: ${pick.blocks}`);
    return pick.choices;
  });
}

/**
 * `--band-finalists K`: one round of successive halving. The K best band trials train again, alone
 * and from scratch, for `--band-finalist-epochs` on the same split; the best of those is the pick
 * (a tie goes to the better short trial). Why: one epoch separates the band's best nets by a few
 * validation images, and a longer training orders nets better than a shorter one.
 */
async function retrainFinalists(finalists: TrainJob[], short: Map<string, TrainResult>, chosen: TargetResult, data: ImageDataset, state: ExperimentState | undefined): Promise<TrainJob> {
  console.log(`  the ${finalists.length} best trials train again for ${cfg.bandFinalistEpochs} epochs on the same split; the best of them is the pick`);
  const jobs = finalists.map((j) => ({ ...j, epochs: cfg.bandFinalistEpochs }));
  const results = savedResults(state, finalistFlags, jobs);
  const pending = jobs.filter((j) => !results.has(jobKey(j)));
  if (results.size) console.log(`  ${results.size} finalist(s) run before, reused from the state`);
  if (values['dry-run'] && pending.length > 0) {
    console.log(`  --dry-run: ${pending.length} finalist(s) to train; the pick shown is the best short trial`);
    return finalists[0];
  }
  const trained = await trainAndSave(pending, data, state, finalistFlags, (job) => `finalist: trial ${job.slot} (validation, ${cfg.bandFinalistEpochs} epochs)`);
  for (const [key, r] of trained) results.set(key, r);
  // Array.sort is stable, so among equal accuracies the better short trial stays first.
  const ranked = [...jobs].sort((a, b) => results.get(jobKey(b))!.accuracy - results.get(jobKey(a))!.accuracy);
  table(
    ['rank', 'trial', 'table ms', `val acc (${cfg.bandTrialEpochs} ep)`, `val acc (${cfg.bandFinalistEpochs} ep)`, 'blocks'],
    ranked.map((j, i) => [
      i + 1,
      j.slot === 0 ? '0 (one-shot)' : j.slot,
      ms(tableLatency(j.choices, chosen.matrix, chosen.fixedMs)),
      pct(short.get(jobKey(j))!.accuracy),
      pct(results.get(jobKey(j))!.accuracy),
      j.blocks,
    ]),
  );
  return ranked[0];
}

/**
 * Scores the searched net, `--supernet-rank` further nets of its latency band and every compared
 * net on the trained supernet (validation accuracy, BatchNorm recalibrated per net), then frees the
 * supernet. Where the searched net ranks among its band says whether the search found what its
 * own supernet rates best; the compared nets' scores, set against their trained accuracy at the
 * end, say whether the supernet's rating means anything for nets trained alone.
 */
async function rankOnSupernet(outcome: SearchOutcome, chosen: TargetResult, jobs: readonly TrainJob[], state: ExperimentState | undefined): Promise<Map<string, number>> {
  try {
    return await phase(`ranking on the ${cfg.target} supernet`, async () => {
      const band = sampleRandom(chosen.choices, chosen.matrix, chosen.fixedMs, cfg.supernetRank, 0).choices;
      const scored = new Map<string, number>();
      const scoreOf = (choices: readonly number[]) => {
        const key = choices.join(',');
        if (!scored.has(key)) scored.set(key, outcome.score(choices));
        return scored.get(key)!;
      };
      const searchedScore = scoreOf(chosen.choices);
      const bandScores = band.map(scoreOf).sort((a, b) => a - b);
      console.log(`  accuracy on the supernet, ${outcome.scoredOn.validation} validation images (BatchNorm statistics re-estimated per net on ${outcome.scoredOn.calibration} training images):`);
      console.log(`    searched net ${pct(searchedScore)}`);
      if (outcome.choices.join(',') !== chosen.choices.join(',')) console.log(`    this supernet's own argmax net ${pct(scoreOf(outcome.choices))}`);
      if (bandScores.length) {
        const below = bandScores.filter((x) => x < searchedScore).length;
        console.log(
          `    ${bandScores.length} random nets of the band: min ${pct(bandScores[0])}, median ${pct(median(bandScores))}, max ${pct(bandScores[bandScores.length - 1])}; ` +
            `the searched net is above ${below} of them`,
        );
      }
      const byNet = new Map<string, number>();
      const rows = jobs.map((job) => {
        const score = scoreOf(job.choices);
        byNet.set(jobKey(job), score);
        return [label(job), pct(score), job.blocks];
      });
      if (rows.length) table(['compared net', 'supernet acc', 'blocks'], rows);
      if (state) rankTrainedBefore(state, jobs, scoreOf);
      return byNet;
    });
  } finally {
    outcome.dispose();
  }
}

/** The nets the state holds trained under these training flags, each with its test accuracy per seed trained. */
function trainedNetsOf(state: ExperimentState): Map<string, number[]> {
  const nets = new Map<string, number[]>();
  for (const t of state.trainedUnder(trainFlags)) nets.set(t.net, [...(nets.get(t.net) ?? []), t.accuracy]);
  return nets;
}

/**
 * Every net the state holds trained under these training flags (from this comparison or any earlier
 * search's), scored on this supernet and set against its test accuracy: a ranking check that
 * costs no training when the state already holds nets.
 */
function rankTrainedBefore(state: ExperimentState, jobs: readonly TrainJob[], scoreOf: (choices: readonly number[]) => number): void {
  const nets = trainedNetsOf(state);
  const points: { score: number; accuracy: number }[] = [];
  const rows: string[][] = [];
  const unbuildable: string[] = [];
  for (const [blocks, accuracies] of nets) {
    // A compared net is scored on the path it was drawn as; other nets on their stages' first positions.
    const choices = jobs.find((j) => j.blocks === blocks)?.choices ?? choicesOfNet(blocks);
    if (!choices) {
      unbuildable.push(blocks);
      continue;
    }
    const point = { score: scoreOf(choices), accuracy: mean(accuracies) };
    points.push(point);
    rows.push([pct(point.accuracy), String(accuracies.length), pct(point.score), blocks]);
  }
  if (points.length === 0) return;
  console.log(`  every net the state holds trained under these training flags:`);
  table(['test acc', 'seeds', 'supernet acc', 'blocks'], rows);
  if (unbuildable.length) console.log(`  not in this search space, so not scored: ${unbuildable.join('; ')}`);
  printKendall(
    "supernet score against trained test accuracy, state's nets",
    points.map((p) => p.score),
    points.map((p) => p.accuracy),
  );
}

/**
 * The control for the supernet's ranking: every net the state holds, trained again for only
 * `--proxy-epochs` (seed 1, same recipe, not saved), and Kendall's tau between that short training's
 * test accuracy and the full training's. If a short standalone training orders the nets and the
 * supernet does not, weight sharing is what loses the order; if neither does, the nets differ by
 * less than one training's seed-to-seed noise.
 */
async function rankByShortTraining(state: ExperimentState, data: ImageDataset): Promise<void> {
  await phase(`ranking by a ${cfg.proxyEpochs}-epoch standalone training`, async () => {
    const nets = trainedNetsOf(state);
    const jobs: TrainJob[] = [];
    for (const blocks of nets.keys()) {
      const choices = choicesOfNet(blocks);
      if (choices) jobs.push({ seed: 1, slot: jobs.length, choices, name: `proxy-${jobs.length}`, blocks, epochs: cfg.proxyEpochs });
    }
    console.log(`  ${jobs.length} nets the state holds trained for ${cfg.trainEpochs} epochs, each trained again for ${cfg.proxyEpochs}`);
    const proxies = await trainAll(jobs, data, () => undefined);
    const rows = jobs.map((j) => [pct(mean(nets.get(j.blocks)!)), pct(proxies.get(jobKey(j))!.accuracy), j.blocks]);
    table(['test acc', `after ${cfg.proxyEpochs} epoch(s)`, 'blocks'], rows);
    printKendall(
      `${cfg.proxyEpochs}-epoch accuracy against the ${cfg.trainEpochs}-epoch test accuracy`,
      jobs.map((j) => proxies.get(jobKey(j))!.accuracy),
      jobs.map((j) => mean(nets.get(j.blocks)!)),
    );
  });
}

/**
 * Kendall's tau between the supernet's scores and the trained test accuracy of the compared nets,
 * one point per distinct net (the searched net, trained once per seed, by its mean accuracy).
 */
function printRankAgreement(jobs: readonly TrainJob[], trained: ReadonlyMap<string, TrainResult>, scores: ReadonlyMap<string, number>): void {
  const nets = new Map<string, { score: number; accuracies: number[] }>();
  for (const job of jobs) {
    const score = scores.get(jobKey(job));
    const r = trained.get(jobKey(job));
    if (score === undefined || !r) continue;
    const net = nets.get(job.blocks) ?? { score, accuracies: [] };
    net.accuracies.push(r.accuracy);
    nets.set(job.blocks, net);
  }
  const points = [...nets.values()];
  printKendall(
    'supernet score against trained test accuracy',
    points.map((p) => p.score),
    points.map((p) => mean(p.accuracies)),
  );
}

/** One line of Kendall's tau between a judge's scores of distinct nets and their trained accuracy; nothing under 3 nets. */
function printKendall(what: string, judged: readonly number[], trained: readonly number[]): void {
  if (judged.length < 3) return;
  console.log(`  ${what}: Kendall tau ${kendallTau(judged, trained).toFixed(2)} over ${judged.length} distinct nets (1: the same order as training; about 0: no relation)`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const wallStart = Date.now();
  const info = backendInfo();
  console.log(`command: ${command()}`);
  console.log(`started ${new Date().toISOString()}; ${info.package} (${info.backend}, tfjs ${info.version}); ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const data = fashionMnistForBenchmark(values['train-subset'], values['test-subset'], cfg.seed);
  // The search may see a seeded subset of the images the compared nets train on.
  const searchData = values['search-subset'] ? subsetDataset(data, num('search-subset'), data.test.count, cfg.seed) : data;
  const split = splitIndices(searchData.train.count, cfg.valFraction, cfg.seed);
  console.log(
    `Fashion-MNIST: ${data.train.count} train images (search: ${split.train.length} weight / ${split.validation.length} architecture${searchData === data ? '' : `, a subset of ${searchData.train.count}`}), ${data.test.count} test images`,
  );
  const spaceOps = enumerateSpaceOps(space, { inputResolution: RESOLUTION, inputChannels: 1, numClasses: 10 });
  const log10Size = decisions.reduce((s, d) => s + Math.log10(d.options.length), 0);
  console.log(
    `search space: stem 16 s${cfg.stemStride}; stages ${space.stages.map((s) => `${s.channels}ch s${s.stride} x${s.repeats}`).join(', ')}; k{3,5,7} x e{3,6}${cfg.se ? ' with SE' : ''} + zero; head 128; ` +
      `${decisions.length} decisions, 10^${log10Size.toFixed(1)} architectures, ${distinctOps(spaceOps).length} distinct ops`,
  );
  const objective = cfg.targetQuantile === undefined ? `lambda ${cfg.lambda} (per ms)` : `lambda ${cfg.lambda} x |LAT / target - 1|, target at the ${cfg.targetQuantile} latency quantile`;
  console.log(`search: ${cfg.strategy}, ${objective}, ${cfg.searchEpochs} epochs (${cfg.warmupEpochs} warm-up), batch ${cfg.batch}, lr ${cfg.lr} cosine, arch Adam lr ${cfg.archLr}, seed ${cfg.seed}`);

  const state = values.state ? await ExperimentState.open(values.state) : undefined;
  if (state) console.log(`state: ${state.file}${state.note ? ` (${state.note})` : ''}`);

  // 1. Tables and searches (or the ones the state saved under the same flags).
  const saved = state?.searchUnder(searchFlags) ?? [];
  const toSave = [...saved];
  const results: TargetResult[] = [];
  /** The supernet searched (or, with --rescore, retrained) for `--target`, kept to rank nets on. */
  let supernet: SearchOutcome | undefined;
  for (const target of cfg.targets) {
    const reused = saved.find((x) => x.target === target);
    if (reused) {
      if (reused.matrix.length !== decisions.length || reused.matrix.some((row, i) => row.length !== decisions[i].options.length) || reused.choices.length !== decisions.length) {
        throw new Error(`experiment state ${state!.file}: the ${target} table does not fit this search space (${decisions.length} decisions)`);
      }
      console.log(`\n=== latency table and search for ${target}: reused from the state`);
      printTable(reused.matrix, reused.fixedMs, reused.latencyTargetMs);
      results.push({ ...reused, target, arch: archOf(reused.choices, `searched-${target}`) });
      if (values.rescore && target === cfg.target) {
        // The same search again on the saved table: the saved result stays what is compared; the
        // new supernet is only there to rank the saved comparison's nets on.
        const latencyTarget = reused.latencyTargetMs === undefined ? undefined : { ms: reused.latencyTargetMs, fixedMs: reused.fixedMs };
        supernet = await phase(`search for ${target} again (--rescore), on the saved table`, () => search(target, reused.matrix, searchData, latencyTarget));
        const same = supernet.choices.join(',') === reused.choices.join(',');
        console.log(`  this search derived ${same ? 'the saved architecture again' : `[${supernet.choices.join(',')}], not the saved [${reused.choices.join(',')}]: ${blocksOf(archOf(supernet.choices, 'again'))}`}`);
      }
      continue;
    }
    const t = await phase(`latency table on ${target}`, () => buildTable(target, spaceOps));
    const matrix = latencyMatrix(t, spaceOps);
    const fixedMs = fixedLatencyMs(t, spaceOps);
    console.log(`  ${t.entries.length} ops measured (batch 1, median of ${cfg.opRepeats} runs, median over ${cfg.opPasses} passes)`);
    const latencyTarget = cfg.targetQuantile === undefined ? undefined : { ms: latencyQuantile(matrix, fixedMs, cfg.targetQuantile), fixedMs };
    printTable(matrix, fixedMs, latencyTarget?.ms);
    const found = await phase(`search for ${target}`, () => search(target, matrix, searchData, latencyTarget));
    if (target === cfg.target) supernet = found;
    else found.dispose();
    const searched: SearchedTarget = { target, matrix, fixedMs, latencyTargetMs: latencyTarget?.ms, choices: found.choices, expectedLatencyMs: found.expectedLatencyMs };
    results.push({ ...searched, target, arch: archOf(found.choices, `searched-${target}`) });
    toSave.push(searched);
    await state?.saveSearch(searchFlags, toSave);
  }

  const chosen = results.find((r) => r.target === cfg.target)!;
  const picked = cfg.bandTrials > 0 ? await searchInBand(chosen, data, state) : chosen.choices;
  const compared = comparedJobs(chosen, picked);
  const supernetScores = supernet ? await rankOnSupernet(supernet, chosen, compared.jobs, state) : undefined;

  console.log('\n=== derived architectures');
  for (const r of results) {
    const model = buildArchModel(r.arch, { inferenceOnly: true, zeroInit: true });
    const macs = countMacs(model);
    model.dispose();
    console.log(`  ${r.target.padEnd(8)} ${r.arch.blocks.length} blocks, ${(macs / 1e6).toFixed(2)}M MACs, choices [${r.choices.join(',')}]: ${blocksOf(r.arch)}`);
  }
  const distinct = new Set(results.map((r) => r.choices.join(','))).size;
  if (results.length > 1) console.log(`  the searches derived ${distinct === results.length ? 'different' : 'IDENTICAL'} architectures`);

  if (state && cfg.proxyEpochs > 0) await rankByShortTraining(state, data);

  // 2. Cross-latency.
  if (results.length > 1) {
    await phase('cross-latency (whole models, batch 1)', async () => {
      const measured = new Map<string, number[]>();
      for (let round = 0; round < cfg.latencyRounds; round++) {
        for (const r of results) {
          for (const t of cfg.targets) {
            const key = `${r.target}|${t}`;
            measured.set(key, [...(measured.get(key) ?? []), await modelLatency(r.arch, t)]);
          }
        }
      }
      const lat = (searchedFor: TargetName, on: TargetName) => median(measured.get(`${searchedFor}|${on}`)!);
      const predicted = (searchedFor: TargetName, on: TargetName) => {
        const onTable = results.find((x) => x.target === on)!;
        return tableLatency(results.find((x) => x.target === searchedFor)!.choices, onTable.matrix, onTable.fixedMs);
      };
      console.log(`  median over ${cfg.latencyRounds} interleaved rounds of the median of ${cfg.modelRepeats} runs; table = sum of the target's op entries`);
      table(
        ['searched for', ...cfg.targets.flatMap((t) => [`on ${t} ms`, `table ${t} ms`])],
        results.map((r) => [r.target, ...cfg.targets.flatMap((t) => [ms(lat(r.target, t)), ms(predicted(r.target, t))])]),
      );
      console.log('  claim: the net searched for a target is the fastest of the searched nets on that target');
      for (const t of cfg.targets) {
        const own = lat(t, t);
        const others = cfg.targets.filter((o) => o !== t);
        const measuredHolds = others.every((o) => own < lat(o, t));
        const tableHolds = others.every((o) => predicted(t, t) < predicted(o, t));
        console.log(
          `    on ${t}: own ${ms(own)} ms vs ${others.map((o) => `${o}-searched ${ms(lat(o, t))} ms`).join(', ')} -> ` +
            `measured ${measuredHolds ? 'HOLDS' : 'does NOT hold'}; by table ${tableHolds ? 'holds' : 'does not hold'}`,
        );
      }
      const all = cfg.targets.every((t) => cfg.targets.filter((o) => o !== t).every((o) => lat(t, t) < lat(o, t)));
      console.log(`  overall (measured, both directions): ${all ? 'HOLDS' : 'does NOT hold'}`);
    });
  }

  // 3. Searched versus random.
  if (cfg.seeds > 0) {
    await phase(`searched (${cfg.target}) vs ${cfg.random} random nets within +-${cfg.band * 100}% table latency, ${cfg.seeds} seed(s)`, async () => {
      const oneShotMs = tableLatency(chosen.choices, chosen.matrix, chosen.fixedMs);
      if (cfg.bandTrials === 0) console.log(`  searched net: table latency ${ms(oneShotMs)} ms on ${cfg.target}: ${blocksOf(chosen.arch)}`);
      else {
        console.log(`  searched net: the band trials' pick, table latency ${ms(tableLatency(picked, chosen.matrix, chosen.fixedMs))} ms on ${cfg.target}: ${compared.jobs[0].blocks}`);
        console.log(`  random nets drawn within +-${cfg.band * 100}% of the one-shot net's ${ms(oneShotMs)} ms (${blocksOf(chosen.arch)})`);
      }
      console.log(`  training: ${cfg.trainEpochs} epoch(s) on all ${data.train.count} training images, batch ${cfg.batch}, SGD momentum 0.9, lr ${cfg.trainLr} cosine, label smoothing ${cfg.labelSmoothing}; test on ${data.test.count}`);
      for (const d of compared.draws) console.log(`  seed ${d.seed}: ${d.accepted}/${cfg.random} random nets accepted after ${d.tries} draws`);
      const { jobs } = compared;
      const results = savedResults(state, trainFlags, jobs);
      // Slot by slot: a run stopped early has every seed's searched net and first random nets.
      const pending = jobs.filter((j) => !results.has(jobKey(j))).sort((a, b) => a.slot - b.slot || a.seed - b.seed);
      if (results.size) console.log(`  ${results.size} net(s) trained before, reused from the state: ${jobs.filter((j) => results.has(jobKey(j))).map(label).join(', ')}`);
      console.log(`  to train: ${pending.length ? pending.map(label).join(', ') : 'none'}`);
      if (values['dry-run']) {
        console.log('  --dry-run: stopping before training');
        return;
      }
      const trained = await trainAndSave(pending, data, state, trainFlags, label);
      for (const [key, r] of trained) results.set(key, r);
      const rows: (string | number)[][] = [];
      const searchedAcc: number[] = [];
      const randomMeans: number[] = [];
      for (let s = 1; s <= cfg.seeds; s++) {
        const accs: number[] = [];
        for (const job of jobs.filter((j) => j.seed === s)) {
          const r = results.get(jobKey(job))!;
          if (job.slot === 0) searchedAcc.push(r.accuracy);
          else accs.push(r.accuracy);
          const score = supernetScores?.get(jobKey(job));
          rows.push([s, job.slot === 0 ? 'searched' : `random ${job.slot}`, ms(tableLatency(job.choices, chosen.matrix, chosen.fixedMs)), pct(r.accuracy), ...(supernetScores ? [score === undefined ? '' : pct(score)] : []), r.seconds.toFixed(0), job.blocks]);
        }
        if (accs.length) randomMeans.push(mean(accs));
      }
      table(['seed', 'net', 'table ms', 'test acc', ...(supernetScores ? ['supernet acc'] : []), 's', 'blocks'], rows);
      const sMean = mean(searchedAcc);
      const rMean = mean(randomMeans);
      console.log(`  mean over ${cfg.seeds} seed(s): searched ${pct(sMean)}, random ${randomMeans.length ? pct(rMean) : 'n/a'} (per seed: searched ${searchedAcc.map(pct).join(' ')}; random ${randomMeans.map(pct).join(' ')})`);
      if (randomMeans.length) {
        const wins = searchedAcc.filter((a, i) => i < randomMeans.length && a > randomMeans[i]).length;
        console.log(`  searched > mean(random): ${sMean > rMean ? 'YES' : 'NO'} (by ${((sMean - rMean) * 100).toFixed(2)} points; searched ahead in ${wins}/${randomMeans.length} seeds)`);
      }
      if (supernetScores) printRankAgreement(jobs, results, supernetScores);
    });
  }

  console.log('\n=== wall time per phase');
  table(['phase', 's'], [...phases.map((p) => [p.name, p.seconds.toFixed(1)]), ['total', ((Date.now() - wallStart) / 1000).toFixed(1)]]);
  console.log(`reproduce: ${command()}`);
}

if (process.env[TRAINER_ENV]) trainerProcess();
else
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
