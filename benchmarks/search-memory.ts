/**
 * Peak tensor memory of one ProxylessNAS search step (binarised: one path per mixed op) against
 * one training step of the compact network it trains, and against one all-paths (DARTS-style)
 * step of the same supernet: the paper's claim is that binarised search costs about what training
 * the compact net costs, not N times as much.
 *
 *   npx tsx benchmarks/search-memory.ts [--batch 64] [--resolution 28]
 *
 * Memory is tfjs's own count of live tensor bytes (`tf.profile` peakBytes, a high-water mark over
 * every kernel of the step), on random Fashion-MNIST-shaped data (28x28x1, 10 classes). Each step
 * runs once unmeasured first, so optimizer slots exist before the measured step. "resident" is
 * what lives before the step (weights of every path, momentum slots, the batch); "step" is what the
 * step adds on top (activations kept for backprop, gradients), which is what grows with the
 * number of computed paths. tfjs counts bytes per tensor object (a reshape of a buffer counts
 * again), so absolute numbers overstate what libtensorflow allocates; the ratios compare like with
 * like, since all three steps run the same kernels per computed path.
 */
import { parseArgs } from 'node:util';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { SearchSpaceSchema } from '../dsl/search-space';
import { backendInfo, loadTf } from '../engine/backend';
import { buildArchModel } from '../engine/models/arch-model';
import { mulberry32 } from '../core/random';
import { archOfChoices, Supernet, type PeakMemory, type TrainBatch } from '../engine/supernet';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    resolution: { type: 'string', default: '28' },
  },
});
const batchSize = Number(values.batch);
const resolution = Number(values.resolution);
const tf = loadTf();

/** A MobileNet-like space for 28 px inputs: k in {3,5,7} x e in {3,6} (+ zero), 28 -> 14 -> 7. */
const space = SearchSpaceSchema.parse({
  inputResolution: resolution,
  stem: { channels: 16, kernel: 3, stride: 1 },
  stages: [
    { channels: 16, repeats: 1, stride: 1, kernels: [3], expansions: [1] },
    { channels: 24, repeats: 2, stride: 2, skip: true },
    { channels: 40, repeats: 3, stride: 2, skip: true },
    { channels: 80, repeats: 3, stride: 1, skip: true },
    { channels: 96, repeats: 2, stride: 1, skip: true },
  ],
  head: { channels: 320, dropout: 0 },
});

function randomBatch(): TrainBatch {
  const rand = mulberry32(42);
  const xs = tf.tensor4d(Float32Array.from({ length: batchSize * resolution * resolution }, () => rand()), [batchSize, resolution, resolution, 1]);
  const ys = tf.oneHot(tf.tensor1d(Array.from({ length: batchSize }, () => Math.floor(rand() * 10)), 'int32'), 10).toFloat();
  return { xs, ys };
}

/** One SGD-momentum step of a plain LayersModel with the supernet's loss, BatchNorm in training mode. */
async function compactStep(choices: number[], batch: TrainBatch): Promise<PeakMemory & { params: number }> {
  const model = buildArchModel(archOfChoices(space, choices, { numClasses: 10, inputChannels: 1, resolution }), { inferenceOnly: true });
  const optimizer = tf.train.momentum(0.05, 0.9, true);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  const step = async () => {
    const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(batch.ys, model.apply(batch.xs, { training: true }) as Tensor) as Scalar, true, vars);
    cost?.dispose();
  };
  await step();
  const mem = await Supernet.peakMemory(step);
  const params = model.countParams();
  optimizer.dispose();
  model.dispose();
  return { ...mem, params };
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);
const stepBytes = (m: PeakMemory) => m.peakBytes - m.residentBytes;

function newSupernet(alpha: number[][] | null): Supernet {
  const net = new Supernet({ space, numClasses: 10, inputChannels: 1, seed: 1 });
  if (alpha) net.setAlpha(alpha);
  return net;
}

/**
 * One scenario: the gates of a weight step under `alpha`, measured as a binarised search step, as
 * a plain training step of the compact net those gates select, and as an all-paths step. Each is
 * measured with nothing else alive, so "resident" is that step's own weights and slots.
 */
async function scenario(label: string, alpha: number[][] | null): Promise<void> {
  const batch = randomBatch();
  let net = newSupernet(alpha);
  const supernetWeights = net.allWeights().reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  // Warm up with the exact gates of the measured step, so those paths' momentum slots exist, as in a long search.
  const gates = net.weightGates(net.weightSteps + 1);
  const fixed = net.alpha;
  net.setAlpha(gates.map((g, d) => fixed[d].map((_, j) => (j === g ? 80 : 0))));
  await net.weightStep(batch);
  net.setAlpha(fixed);
  const binarised = await Supernet.peakMemory(() => net.weightStep(batch));
  net.dispose();

  const compact = await compactStep(gates, batch);

  net = newSupernet(alpha);
  await net.allPathsWeightStep(batch);
  const allPaths = await Supernet.peakMemory(() => net.allPathsWeightStep(batch));
  net.dispose();
  tf.dispose([batch.xs, batch.ys]);

  console.log(`\n${label}: gates ${JSON.stringify(gates)}`);
  console.log(`  compact net ${compact.params} params; supernet ${supernetWeights} weights (all paths, BatchNorm statistics included)`);
  const rows: [string, PeakMemory][] = [['compact net step', compact], ['binarised search step', binarised], ['all-paths (DARTS) step', allPaths]];
  console.log('  step                     resident MiB   step MiB   peak MiB');
  for (const [name, m] of rows) console.log(`  ${name.padEnd(24)} ${mb(m.residentBytes).padStart(12)} ${mb(stepBytes(m)).padStart(10)} ${mb(m.peakBytes).padStart(10)}`);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log(`  binarised / compact: peak ${ratio(binarised.peakBytes, compact.peakBytes)}x (target <= 1.5x), step ${ratio(stepBytes(binarised), stepBytes(compact))}x`);
  console.log(`  all-paths / compact: peak ${ratio(allPaths.peakBytes, compact.peakBytes)}x, step ${ratio(stepBytes(allPaths), stepBytes(compact))}x`);
}

/** Logits that make the largest kernel and expansion (never zero) the certain choice of every op. */
function largestEverywhere(): number[][] {
  const net = newSupernet(null);
  const alpha = net.decisions.map((d) => {
    const blocks = d.options.filter((o) => o !== 'zero');
    const k = Math.max(...blocks.map((o) => o.kernel));
    const e = Math.max(...blocks.map((o) => o.expansion));
    return d.options.map((o) => (o !== 'zero' && o.kernel === k && o.expansion === e ? 80 : 0));
  });
  net.dispose();
  return alpha;
}

async function main(): Promise<void> {
  const info = backendInfo();
  console.log(`search memory, batch ${batchSize}, ${resolution}x${resolution}x1, 10 classes; ${info.package} (${info.backend})`);
  console.log(`reproduce: npx tsx benchmarks/search-memory.ts --batch ${batchSize} --resolution ${resolution}`);
  await scenario('uniform alpha (start of search)', null);
  await scenario('largest path everywhere (k7 e6, no skips)', largestEverywhere());
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
