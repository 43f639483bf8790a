/**
 * Our engine's side of benchmarks/peers.ts: one measurement of one network in a fresh process,
 * printed as one JSON line on stdout.
 *
 *   npx tsx benchmarks/peers-ours.ts --arch FILE --batch N --steps N --warmup N [--mode graph|eager] [--max-seconds S]
 *   npx tsx benchmarks/peers-ours.ts --arch FILE --inference [--runs N] [--warmup N]
 *
 * `--max-seconds S` ends the timed steps early once S seconds have passed (after at least two), so
 * a measurement on a machine another job slows down does not run for minutes; `steps` in the
 * output is the number timed.
 *
 * Training: the trainer's step (engine/train/classifier-trainer.ts) on random data: softmax
 * cross-entropy with label smoothing 0.1 plus 5e-5/2 x the sum of squared kernels, SGD with
 * momentum 0.9. `graph` (the default, what the trainer runs) computes loss and gradients as one
 * TensorFlow graph (engine/graph/training-step.ts) and applies them with the tfjs optimizer;
 * `eager` is the same step on tfjs's gradient tape (the trainer's fallback). Inference: batch-1
 * latency of the inference-only model through the evaluation stage's own timer
 * (engine/latency/timing.ts: `model.predict`, result read back, median).
 *
 * Threads: libtensorflow reads TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS when tfjs-node
 * creates its eager context, so the parent sets them in this process's environment; they are
 * echoed back with the CPU time per wall second, which shows whether they took.
 */
import { parseArgs } from 'node:util';
import type { LayersModel, Optimizer, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../engine/backend';
import { readArchFile } from '../cli/arch-file';
import type { NoiseKwargs } from '../engine/blocks/seeded-dropout';
import { buildArchModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';
import { makeOptimizer } from '../engine/train/optimizers';
import { CompiledTrainingStep } from '../engine/graph/training-step';
import { measureLatency } from '../engine/latency/timing';
import { isDecayedKernel } from '../engine/train/weight-decay';

/** The training-step implementations this script can time; peers.ts passes `--modes` through. */
const MODES = ['graph', 'eager'] as const;
type Mode = (typeof MODES)[number];

/** The trainer's defaults for the Fashion-MNIST recipe (benchmarks/fashion-mnist-accuracy.ts). */
const LABEL_SMOOTHING = 0.1;
const WEIGHT_DECAY = 5e-5;
const LEARNING_RATE = 0.05;
const MOMENTUM = 0.9;

interface StepInputs {
  xs: Tensor;
  ys: Tensor;
}

/**
 * One training step of `model` as a function returning the step's loss. Each mode is one branch;
 * all of them must compute the same loss and apply the same update, so that only the
 * implementation differs between the table's columns.
 */
function makeTrainStep(mode: Mode, model: LayersModel, optimizer: Optimizer, batch: StepInputs): { step: () => Promise<number>; dispose(): void } {
  const tf = loadTf();
  // The trainer's variable list, in the same order (tfjs optimizers key their slots by position).
  const variables = model.trainableWeights.map((w) => ({ name: w.originalName, v: (w as unknown as { val: Variable }).val }));
  const trainable = variables.map((x) => x.v);
  const kernels = variables.filter((x) => isDecayedKernel(x.name)).map((x) => x.v);
  let noiseStep = 0;
  const lossOf = (): Scalar => {
    const kwargs: NoiseKwargs = { training: true, noiseStep: noiseStep++ };
    const logits = model.apply(batch.xs, kwargs) as Tensor;
    const ce = tf.losses.softmaxCrossEntropy(batch.ys, logits, undefined, LABEL_SMOOTHING) as Scalar;
    const l2 = tf.addN(kernels.map((k) => tf.sum(tf.square(k))));
    return tf.add(ce, tf.mul(l2, WEIGHT_DECAY / 2)) as Scalar;
  };
  switch (mode) {
    case 'eager':
      return {
        step: async () => {
          const loss = optimizer.minimize(lossOf, true, trainable)!;
          const value = (await loss.data())[0];
          loss.dispose();
          return value;
        },
        dispose: () => undefined,
      };
    case 'graph': {
      // Throws, naming the layer, for a net the graph cannot express: a benchmark must not
      // quietly time the eager fallback under this mode's name.
      const compiled = CompiledTrainingStep.compile(model, { labelSmoothing: LABEL_SMOOTHING, weightDecay: WEIGHT_DECAY, decays: isDecayedKernel });
      return {
        step: async () => {
          const { loss, gradients } = compiled.run(batch.xs, batch.ys, noiseStep++);
          optimizer.applyGradients(variables.map((x, i) => ({ name: x.v.name, tensor: gradients[i] })));
          const value = (await loss.data())[0];
          tf.dispose([loss, ...gradients]);
          return value;
        },
        dispose: () => compiled.dispose(),
      };
    }
  }
}

const { values } = parseArgs({
  options: {
    arch: { type: 'string' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    mode: { type: 'string', default: 'graph' },
    inference: { type: 'boolean', default: false },
    runs: { type: 'string', default: '50' },
    'max-seconds': { type: 'string', default: '0' },
  },
});

function threadEnv() {
  return { intraOp: process.env.TF_NUM_INTRAOP_THREADS ?? 'default', interOp: process.env.TF_NUM_INTEROP_THREADS ?? 'default' };
}

/** CPU seconds of this process per wall second over `f`: about the number of busy threads. */
async function timed<T>(f: () => Promise<T>): Promise<{ result: T; seconds: number; cpuPerWall: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const result = await f();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { result, seconds, cpuPerWall: (cpu.user + cpu.system) / 1e6 / seconds };
}

async function train(file: string, mode: Mode, batchSize: number, maxSteps: number, warmup: number, maxSeconds: number) {
  const tf = loadTf();
  const arch = readArchFile(file);
  const model = buildArchModel(arch, { seed: 1 });
  const optimizer = makeOptimizer({ kind: 'momentum', learningRate: LEARNING_RATE, momentum: MOMENTUM, rmspropDecay: 0.9, rmspropEpsilon: 1e-3 });
  const xs = tf.randomUniform([batchSize, arch.resolution, arch.resolution, arch.inputChannels], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([batchSize], 0, arch.numClasses, 'int32', 2) as Tensor, arch.numClasses).toFloat();
  const { step, dispose } = makeTrainStep(mode, model, optimizer, { xs, ys });
  for (let i = 0; i < warmup; i++) await step();
  const { result: losses, seconds, cpuPerWall } = await timed(async () => {
    const out: number[] = [];
    const t0 = process.hrtime.bigint();
    const overTime = () => maxSeconds > 0 && out.length >= 2 && Number(process.hrtime.bigint() - t0) / 1e9 > maxSeconds;
    while (out.length < maxSteps && !overTime()) out.push(await step());
    return out;
  });
  const steps = losses.length;
  const line = {
    framework: 'ours',
    mode,
    imagesPerSecond: (batchSize * steps) / seconds,
    msPerStep: (seconds / steps) * 1000,
    seconds,
    steps,
    batch: batchSize,
    params: countParams(model).total,
    loss: losses[losses.length - 1],
    cpuPerWall,
    threads: threadEnv(),
    tensorsAlive: tf.memory().numTensors,
  };
  dispose();
  tf.dispose([xs, ys]);
  optimizer.dispose();
  model.dispose();
  return line;
}

async function infer(file: string, runs: number, warmup: number) {
  const arch = readArchFile(file);
  const model = buildArchModel(arch, { seed: 1, inferenceOnly: true });
  const { result, cpuPerWall } = await timed(() =>
    measureLatency(model, [arch.resolution, arch.resolution, arch.inputChannels], { batchSize: 1, warmupRuns: warmup, repeats: runs }),
  );
  const line = { framework: 'ours', medianMs: result.medianMs, p90Ms: result.p90Ms, runs: result.repeats, params: countParams(model).total, cpuPerWall, threads: threadEnv() };
  model.dispose();
  return line;
}

async function main() {
  if (!values.arch) throw new Error('--arch FILE is required');
  const mode = values.mode as Mode;
  if (!MODES.includes(mode)) throw new Error(`--mode ${values.mode}: this engine has modes ${MODES.join(', ')}`);
  const line = values.inference
    ? await infer(values.arch, Number(values.runs), Number(values.warmup))
    : await train(values.arch, mode, Number(values.batch), Number(values.steps), Number(values.warmup), Number(values['max-seconds']));
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
