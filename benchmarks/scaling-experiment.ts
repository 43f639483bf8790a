/**
 * The EfficientNet paper's scaling comparison (its Figure 8 / Table 3 idea) on Fashion-MNIST: the
 * same small baseline scaled four ways to (about) the same MACs, each trained with the same recipe,
 * test accuracy side by side.
 *
 *   npx tsx benchmarks/scaling-experiment.ts [--coefficients 1.2,1.1,1.15] [--phi 1]
 *       [--base-width 0.25] [--downsamplings 3] [--epochs 5] [--batch 64] [--lr 0.05]
 *       [--train-subset N] [--test-subset N] [--methods baseline,compound,width,depth,resolution] [--seed 1]
 *
 * Compound: depth x alpha^phi, width x beta^phi, side x gamma^phi. Width-, depth- and
 * resolution-only: one multiplier, found by bisection so the model's MACs land closest to the
 * compound model's (rounding makes MACs a step function, so "equal" means within 10%; the table
 * prints the ratio and flags any method that missed). All scaling goes through scaleArch, i.e.
 * roundFilters / roundRepeats / nearest-pixel sides. Resolution above 28 px is a bilinear upsample
 * of Fashion-MNIST's 28 px images: no new detail, only more compute per image, a harder test for
 * resolution scaling than ImageNet's natively large photos.
 */
import { parseArgs } from 'node:util';
import { backendInfo } from '../engine/backend';
import { encodeBlock } from '../engine/arch/block-string';
import type { ArchSpec } from '../engine/arch/spec';
import { countMacs } from '../engine/latency/macs';
import { buildArchModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';
import { efficientNetB0For } from '../engine/scaling/baseline';
import { pointCost } from '../core/scaling-grid';
import { compoundScale, scaleArch, type ScalingMultipliers } from '../engine/scaling/scale-arch';
import { ClassifierTrainer } from '../engine/train/classifier-trainer';
import { fashionMnistForBenchmark } from './fashion-data';

const { values } = parseArgs({
  options: {
    coefficients: { type: 'string', default: '1.2,1.1,1.15' },
    phi: { type: 'string', default: '1' },
    'base-width': { type: 'string', default: '0.25' },
    downsamplings: { type: 'string', default: '3' },
    epochs: { type: 'string', default: '5' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.05' },
    'train-subset': { type: 'string' },
    'test-subset': { type: 'string' },
    methods: { type: 'string', default: 'baseline,compound,width,depth,resolution' },
    seed: { type: 'string', default: '1' },
  },
});

/** Equal MACs means within this relative distance of the compound model's. */
const MACS_TOLERANCE = 0.1;

function command(): string {
  const flags = Object.entries(values).map(([k, v]) => `--${k} ${v}`);
  return `npx tsx benchmarks/scaling-experiment.ts ${flags.join(' ')}`;
}

const macsCache = new Map<string, number>();
function macsOf(arch: ArchSpec): number {
  const key = JSON.stringify(arch);
  let macs = macsCache.get(key);
  if (macs === undefined) {
    const model = buildArchModel(arch, { zeroInit: true, inferenceOnly: true });
    macs = countMacs(model);
    model.dispose();
    macsCache.set(key, macs);
  }
  return macs;
}

/**
 * The multiplier of one dimension whose model's MACs come closest to `target`. MACs never fall as a
 * multiplier grows (every rounding is monotone), so bisection finds the step that crosses the target;
 * the closer of the two sides of that step wins.
 */
function matchMacs(base: ArchSpec, dimension: keyof ScalingMultipliers, target: number): { arch: ArchSpec; multiplier: number } {
  const at = (x: number) => scaleArch(base, { depth: 1, width: 1, resolution: 1, [dimension]: x }, `${base.name}-${dimension}-only`);
  let lo = 1;
  let hi = 2;
  while (macsOf(at(hi)) < target && hi < 64) hi *= 2;
  for (let i = 0; i < 24; i++) {
    const mid = (lo + hi) / 2;
    if (macsOf(at(mid)) < target) lo = mid;
    else hi = mid;
  }
  const best = Math.abs(macsOf(at(lo)) - target) <= Math.abs(macsOf(at(hi)) - target) ? lo : hi;
  return { arch: at(best), multiplier: best };
}

interface Row {
  method: string;
  multipliers: string;
  resolution: number;
  macs: number;
  params: number;
  accuracy: number;
  seconds: number;
}

async function main() {
  const [alpha, beta, gamma] = values.coefficients!.split(',').map(Number);
  const phi = Number(values.phi);
  const epochs = Number(values.epochs);
  const batchSize = Number(values.batch);
  const seed = Number(values.seed);
  const data = fashionMnistForBenchmark(values['train-subset'], values['test-subset'], seed);
  const info = backendInfo();
  console.log(`Fashion-MNIST: ${data.train.count} train / ${data.test.count} test images; ${info.package} (${info.backend}), ${require('node:os').cpus().length} CPUs`);
  console.log(`command: ${command()}`);

  const b0 = efficientNetB0For({ resolution: data.height, channels: data.channels, numClasses: data.numClasses });
  const small = { ...b0, blocks: b0.blocks.map((b) => ({ ...b })) };
  // Which stride-2 blocks keep their stride: the first `downsamplings`, as the accuracy benchmark does.
  let keep = Number(values.downsamplings);
  const strided = efficientNetB0For({ resolution: 224, channels: 1, numClasses: 10 }).blocks;
  small.blocks = small.blocks.map((b, i) => ({ ...b, stride: strided[i].stride === 2 && keep-- > 0 ? 2 : 1 }));
  const base: ArchSpec = {
    ...scaleArch(small, { depth: 1, width: Number(values['base-width']), resolution: 1 }, `b0-w${values['base-width']}-28px`),
    // Short runs: BatchNorm's 0.99 would leave moving statistics near their start values.
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
  };
  const c = { alpha, beta, gamma };
  const compound = compoundScale(base, c, phi, `${base.name}-compound-phi${phi}`);
  const target = macsOf(compound);
  console.log(`baseline ${base.name}: ${macsOf(base).toLocaleString('en-US')} MACs; blocks ${base.blocks.map(encodeBlock).join(' ')}`);
  console.log(
    `compound alpha ${alpha}, beta ${beta}, gamma ${gamma}, phi ${phi}: alpha*beta^2*gamma^2 = ${pointCost(alpha, beta, gamma).toFixed(3)}; ` +
      `target ${target.toLocaleString('en-US')} MACs (x${(target / macsOf(base)).toFixed(2)} the baseline)`,
  );

  const candidates: { method: string; arch: ArchSpec; multipliers: string }[] = [];
  for (const method of values.methods!.split(',').map((s) => s.trim())) {
    if (method === 'baseline') candidates.push({ method, arch: base, multipliers: '-' });
    else if (method === 'compound') candidates.push({ method, arch: compound, multipliers: `d ${(alpha ** phi).toFixed(3)} w ${(beta ** phi).toFixed(3)} r ${(gamma ** phi).toFixed(3)}` });
    else if (method === 'width' || method === 'depth' || method === 'resolution') {
      const m = matchMacs(base, method, target);
      candidates.push({ method: `${method}-only`, arch: m.arch, multipliers: `${method[0]} ${m.multiplier.toFixed(3)}` });
    } else throw new Error(`unknown method "${method}": use baseline, compound, width, depth or resolution`);
  }

  const rows: Row[] = [];
  for (const { method, arch, multipliers } of candidates) {
    const model = buildArchModel(arch, { seed });
    const macs = macsOf(arch);
    console.log(`\n${method}: ${multipliers}; ${arch.resolution} px; ${macs.toLocaleString('en-US')} MACs; blocks ${arch.blocks.map(encodeBlock).join(' ')}`);
    const trainer = new ClassifierTrainer(model, data, {
      epochs,
      batchSize,
      learningRate: Number(values.lr),
      optimizer: 'momentum',
      momentum: 0.9,
      seed,
      schedule: 'cosine',
    });
    const started = Date.now();
    await trainer.train({
      checkpointEverySteps: Number.MAX_SAFE_INTEGER,
      onCheckpoint: async () => undefined,
      onEpoch: (r) => console.log(`  epoch ${r.epoch + 1}/${epochs} (${((Date.now() - started) / 1000).toFixed(0)} s)`),
    });
    const accuracy = trainer.evaluate('test').accuracy;
    rows.push({ method, multipliers, resolution: arch.resolution, macs, params: countParams(model).trainable, accuracy, seconds: (Date.now() - started) / 1000 });
    model.dispose();
  }

  console.log(`\n${command()}`);
  const header = ['method', 'multipliers', 'px', 'MACs', 'vs compound', 'params', 'test acc', 'train s'];
  const table = rows.map((r) => {
    const off = r.macs / target - 1;
    const flag = r.method !== 'baseline' && Math.abs(off) > MACS_TOLERANCE ? ' (not equal)' : '';
    return [r.method, r.multipliers, String(r.resolution), r.macs.toLocaleString('en-US'), `${off >= 0 ? '+' : ''}${(off * 100).toFixed(1)}%${flag}`, r.params.toLocaleString('en-US'), `${(r.accuracy * 100).toFixed(2)}%`, r.seconds.toFixed(0)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(header));
  for (const t of table) console.log(line(t));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
