/**
 * Training throughput of an MBConv network on the native TensorFlow backend, and of the identical
 * network in PyTorch when `python3 -c "import torch"` works, measured in the same run.
 *
 *   npx tsx benchmarks/engine-throughput.ts [--arch NAME|arch.json] [--resolution N] [--channels N]
 *       [--classes N] [--batch N] [--steps N] [--warmup N] [--downsamplings N]
 *
 * Default network: EfficientNet-B0 adapted to 28x28x1 (the Fashion-MNIST benchmark's). GFLOP/s
 * use the analytic count of engine/latency/macs.ts (training step = 3 x forward, 2 FLOPs per MAC) for both
 * frameworks, so the ratio is a ratio of images/s.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Scalar, Tensor } from '@tensorflow/tfjs-node';
import { backendInfo, loadTf } from '../engine/backend';
import { resolveArch } from '../cli/arch-file';
import { efficientNet } from '../engine/arch/efficientnet';
import { adaptToSmallInput } from '../engine/arch/small-input';
import { ArchSpecSchema, type ArchSpec } from '../engine/arch/spec';
import { encodeBlock } from '../engine/arch/block-string';
import { countMacs, trainingFlopsPerExample } from '../engine/latency/macs';
import { buildArchModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';

const { values } = parseArgs({
  options: {
    arch: { type: 'string' },
    resolution: { type: 'string' },
    channels: { type: 'string' },
    classes: { type: 'string' },
    downsamplings: { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
});

function chooseArch(): ArchSpec {
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  if (!values.arch) {
    return adaptToSmallInput(efficientNet('b0', 10), {
      resolution: num(values.resolution) ?? 28,
      inputChannels: num(values.channels) ?? 1,
      numClasses: num(values.classes) ?? 10,
      downsamplings: Number(values.downsamplings),
      name: 'efficientnet-b0-28px',
    });
  }
  const base = resolveArch(values.arch);
  return ArchSpecSchema.parse({
    ...base,
    resolution: num(values.resolution) ?? base.resolution,
    inputChannels: num(values.channels) ?? base.inputChannels,
    numClasses: num(values.classes) ?? base.numClasses,
  });
}

async function tfjsThroughput(arch: ArchSpec, batch: number, steps: number, warmup: number) {
  const tf = loadTf();
  const model = buildArchModel(arch, { seed: 1 });
  const optimizer = tf.train.momentum(0.01, 0.9);
  const xs = tf.randomUniform([batch, arch.resolution, arch.resolution, arch.inputChannels], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([batch], 0, arch.numClasses, 'int32', 2) as Tensor, arch.numClasses).toFloat();
  let noiseStep = 0;
  const step = async () => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true, noiseStep: noiseStep++ }) as Tensor) as Scalar,
      true,
    );
    await loss!.data();
    loss!.dispose();
  };
  for (let i = 0; i < warmup; i++) await step();
  const start = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await step();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const result = { imagesPerSecond: (batch * steps) / seconds, seconds, params: countParams(model).total, flopsPerImage: trainingFlopsPerExample(model) };
  tf.dispose([xs, ys]);
  optimizer.dispose();
  model.dispose();
  return result;
}

function torchAvailable(): { ok: true; version: string } | { ok: false; why: string } {
  try {
    const version = execFileSync('python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return { ok: true, version };
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim().split('\n').pop();
    return { ok: false, why: stderr ?? 'python3 -c "import torch" failed' };
  }
}

async function main() {
  const arch = chooseArch();
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const info = backendInfo();
  const macs = countMacs(buildArchModel(arch, { zeroInit: true, inferenceOnly: true }));
  console.log(`network: ${arch.name} ${arch.resolution}x${arch.resolution}x${arch.inputChannels}, ${(macs / 1e6).toFixed(1)}M MACs/image`);
  console.log(`blocks:  ${arch.blocks.map(encodeBlock).join(' ')}`);
  console.log(`tfjs:    ${info.package} ${info.version}, backend ${info.backend}${info.libtensorflowStaged ? `, libtensorflow ${info.libtensorflowStaged}` : ''}`);
  console.log(`batch ${batch}, ${steps} timed steps after ${warmup} warm-up steps, SGD with momentum, random data`);

  const t = await tfjsThroughput(arch, batch, steps, warmup);
  const tfGflops = (t.imagesPerSecond * t.flopsPerImage) / 1e9;
  console.log(`tfjs-node:  ${t.imagesPerSecond.toFixed(1)} images/s, ${tfGflops.toFixed(2)} GFLOP/s achieved (${t.params.toLocaleString('en-US')} params)`);

  const torch = torchAvailable();
  if (!torch.ok) {
    console.log(`pytorch:    skipped: ${torch.why} (install torch for python3 to compare; nothing else changes)`);
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'nas-bench-'));
    try {
      const archFile = join(dir, 'arch.json');
      writeFileSync(archFile, JSON.stringify(arch));
      const run = spawnSync('python3', [join(__dirname, 'mbconv_torch.py'), archFile, '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`PyTorch run failed:\n${run.stderr}`);
      const p = JSON.parse(run.stdout.trim().split('\n').pop()!) as { imagesPerSecond: number; params: number; threads: number };
      if (p.params !== t.params) console.log(`warning: PyTorch network has ${p.params} params, tfjs ${t.params}: not identical`);
      const pGflops = (p.imagesPerSecond * t.flopsPerImage) / 1e9;
      console.log(`pytorch ${torch.version}: ${p.imagesPerSecond.toFixed(1)} images/s, ${pGflops.toFixed(2)} GFLOP/s achieved (${p.threads} threads)`);
      console.log(`ratio tfjs-node / pytorch: ${(t.imagesPerSecond / p.imagesPerSecond).toFixed(2)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`reproduce: npx tsx benchmarks/engine-throughput.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
