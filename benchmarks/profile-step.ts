/**
 * Images/s and a per-kernel time breakdown of one training step of the Fashion-MNIST benchmark's
 * networks (MobileNetV2 / EfficientNet-B0 adapted to 28x28x1), with the trainer's own loss
 * (label smoothing, L2 on kernels) and optimizer (SGD with momentum), on random data.
 *
 *   npx tsx benchmarks/profile-step.ts [--model mobilenet-v2|efficientnet-b0] [--width 0.5]
 *       [--downsamplings 3] [--arch FILE.arch.json] [--batch 128] [--steps 5] [--warmup 2] [--top 25] [--no-profile]
 *
 * `--arch` profiles an architecture a run wrote (a searched baseline, a scaled model) instead.
 *
 * Kernels on tfjs-node run synchronously, so the per-kernel wall times of `tf.profile` add up to
 * (nearly) the step time; the remainder is JavaScript overhead (tape, layers, tidy).
 */
import { parseArgs } from 'node:util';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { backendInfo, loadTf } from '../engine/backend';
import { scaledEfficientNet } from '../engine/arch/efficientnet';
import { mobileNetV2 } from '../engine/arch/mobilenet-v2';
import { adaptToSmallInput } from '../engine/arch/small-input';
import { readArchFile } from '../cli/arch-file';
import type { ArchSpec } from '../engine/arch/spec';
import { countMacs, trainingFlopsPerExample } from '../engine/latency/macs';
import { buildArchModel } from '../engine/models/arch-model';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mobilenet-v2' },
    arch: { type: 'string' },
    width: { type: 'string', default: '0.5' },
    downsamplings: { type: 'string', default: '3' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    top: { type: 'string', default: '25' },
    'no-profile': { type: 'boolean', default: false },
  },
});

function archFor(name: string, width: number, downsamplings: number): ArchSpec {
  const small = { resolution: 28, inputChannels: 1, numClasses: 10, downsamplings };
  if (name === 'mobilenet-v2') return adaptToSmallInput(mobileNetV2(width, 224, 10), { ...small, name: `mobilenet-v2-w${width}-28px` });
  const b0 = scaledEfficientNet({ width, depth: 1.0, resolution: 224, dropout: 0.2 }, `efficientnet-b0-w${width}`, 10);
  return adaptToSmallInput(b0, { ...small, name: `efficientnet-b0-w${width}-28px` });
}

async function main() {
  const tf = loadTf();
  const arch = values.arch
    ? readArchFile(values.arch)
    : archFor(values.model!, Number(values.width), Number(values.downsamplings));
  const batch = Number(values.batch);
  const model = buildArchModel(arch, { seed: 1 });
  const info = backendInfo();
  console.log(`${arch.name}: ${(countMacs(model) / 1e6).toFixed(1)}M MACs/image; ${info.package} ${info.version} (${info.backend}); batch ${batch}`);
  const optimizer = tf.train.momentum(0.05, 0.9);
  const trainable = model.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  const kernels = model.trainableWeights.filter((w) => /\/(kernel|depthwise_kernel)$/.test(w.originalName)).map((w) => (w as unknown as { val: Variable }).val);
  const xs = tf.randomUniform([batch, arch.resolution, arch.resolution, arch.inputChannels], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2) as Tensor, 10).toFloat();
  let noiseStep = 0;
  const step = async () => {
    const loss = optimizer.minimize(
      () => {
        const logits = model.apply(xs, { training: true, noiseStep: noiseStep++ }) as Tensor;
        const ce = tf.losses.softmaxCrossEntropy(ys, logits, undefined, 0.1) as Scalar;
        const l2 = tf.addN(kernels.map((k) => tf.sum(tf.square(k))));
        return tf.add(ce, tf.mul(l2, 5e-5 / 2)) as Scalar;
      },
      true,
      trainable,
    );
    await loss!.data();
    loss!.dispose();
  };
  for (let i = 0; i < Number(values.warmup); i++) await step();
  const steps = Number(values.steps);
  const start = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await step();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const ips = (batch * steps) / seconds;
  console.log(`throughput: ${ips.toFixed(1)} images/s (${((seconds / steps) * 1000).toFixed(0)} ms/step), ${((ips * trainingFlopsPerExample(model)) / 1e9).toFixed(2)} GFLOP/s`);
  console.log(`tensors alive: ${tf.memory().numTensors}`);

  if (!values['no-profile']) {
    const t0 = process.hrtime.bigint();
    const profile = await tf.profile(() => step());
    const stepMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const byName = new Map<string, { ms: number; count: number }>();
    let total = 0;
    for (const k of profile.kernels) {
      const ms = (await k.kernelTimeMs) as number;
      total += ms;
      const e = byName.get(k.name) ?? { ms: 0, count: 0 };
      e.ms += ms;
      e.count++;
      byName.set(k.name, e);
    }
    console.log(`profiled step: ${stepMs.toFixed(0)} ms wall (profiling adds overhead), ${total.toFixed(0)} ms in ${profile.kernels.length} kernels`);
    const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top));
    for (const [name, e] of rows) {
      console.log(`  ${name.padEnd(36)} ${e.ms.toFixed(1).padStart(8)} ms  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  x${e.count}`);
    }
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
