/**
 * Architecture against seed: how much of the accuracy spread among the nets of a latency band is
 * the architecture's, and how well a search's signals could see it, from the state of a
 * proxyless-hardware-experiment.ts run (`--state FILE`). Reads the state only; trains nothing.
 *
 * Among the nets trained `--epochs` and tested (search trials, scored on validation, aside):
 * - nets trained under several seeds (the searched net, an earlier one-shot net) give the seed's
 *   share, the pooled within-architecture SD; the nets trained once (the random draws of the band)
 *   give the total SD; the architecture's share is their difference, sqrt(total^2 - within^2);
 * - per seed, the searched net's margin over the mean of that seed's nets trained once, with the
 *   mean, SD and standard error of the margins, and the seeds a real edge of 0.2, 0.3 or 0.5
 *   points would need to stand 2 standard errors clear;
 * - what a perfect judge of the band could gain over a random draw: the expected best of k nets,
 *   E[max of k standard normals] x the architecture's SD;
 * - per kind of search trial (epochs), the spread of the trial scores against the binomial
 *   standard error of one score on the validation split: a signal can only order nets whose
 *   differences exceed its own noise.
 *
 *   npx tsx benchmarks/seed-noise.ts --state FILE --searched "e3_k3_s1_c16 ..." [--epochs 10] [--best-of 4,24]
 */
import { parseArgs } from 'node:util';
import { ExperimentState, type TrainedNet } from './experiment-state';

const { values } = parseArgs({
  options: {
    state: { type: 'string' },
    searched: { type: 'string' },
    epochs: { type: 'string', default: '10' },
    'best-of': { type: 'string', default: '4,24' },
    'train-images': { type: 'string', default: '60000' },
  },
});
const epochs = Number(values.epochs);
const bestOf = values['best-of']!.split(',').map(Number);
const trainImages = Number(values['train-images']);

/** Bad flags are named before anything is read. */
function checkFlags(): void {
  if (!values.state || !values.searched) throw new Error('usage: npx tsx benchmarks/seed-noise.ts --state FILE --searched "<the searched net\'s blocks>" [--epochs 10] [--best-of 4,24] [--train-images 60000]');
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`--epochs takes a positive whole number, got ${values.epochs}`);
  if (bestOf.some((k) => !Number.isInteger(k) || k < 2)) throw new Error(`--best-of takes whole numbers from 2, got ${values['best-of']}`);
  if (!Number.isInteger(trainImages) || trainImages < 1) throw new Error(`--train-images takes a positive whole number, got ${values['train-images']}`);
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: readonly number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
const pts = (x: number) => (x >= 0 ? ' ' : '') + x.toFixed(2);

/** Standard normal CDF (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** E[max of k standard normals] = integral of x k phi(x) Phi(x)^(k-1), by the midpoint rule on [-8, 8]. */
export function expectedMaxOfNormals(k: number): number {
  const step = 1e-3;
  let sum = 0;
  for (let x = -8 + step / 2; x < 8; x += step) sum += x * k * (Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI)) * normalCdf(x) ** (k - 1) * step;
  return sum;
}

async function main(): Promise<void> {
  checkFlags();
  const state = await ExperimentState.open(values.state!);
  const all = state.allTrained;
  const tested = all.filter((t) => t.flags.trainEpochs === epochs && t.flags.scoredOn === undefined);
  const byNet = new Map<string, TrainedNet[]>();
  for (const t of tested) byNet.set(t.net, [...(byNet.get(t.net) ?? []), t]);
  const repeated = [...byNet.values()].filter((runs) => runs.length > 1);
  // The searched net is never one of its own rivals, even where it was trained under one seed only.
  const once = [...byNet.values()].filter((runs) => runs.length === 1 && runs[0].net !== values.searched).map((runs) => runs[0]);
  const searched = byNet.get(values.searched!);
  if (!searched) throw new Error(`no net trained ${epochs} epochs in ${values.state} builds "${values.searched}"`);
  if (once.length < 2) throw new Error(`${values.state} holds ${once.length} net(s) trained once for ${epochs} epochs: too few to measure their spread`);
  const acc = (t: TrainedNet) => 100 * t.accuracy;

  console.log(`state ${values.state}: ${tested.length} nets trained ${epochs} epochs and tested, ${byNet.size} architectures`);
  console.log('\n=== the seed: architectures trained under several seeds');
  let squares = 0;
  let df = 0;
  for (const runs of repeated) {
    const xs = runs.sort((a, b) => a.seed - b.seed).map(acc);
    squares += xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0);
    df += xs.length - 1;
    console.log(`  ${runs[0].net === values.searched ? 'searched' : '        '}  seeds ${runs.map((r) => r.seed).join(',')}: ${xs.map((x) => x.toFixed(2)).join(' ')}  mean ${mean(xs).toFixed(2)}  SD ${sd(xs).toFixed(2)}  ${runs[0].net}`);
  }
  const within = Math.sqrt(squares / df);
  const total = sd(once.map(acc));
  const between = Math.sqrt(Math.max(0, total ** 2 - within ** 2));
  console.log(`  pooled within-architecture SD: ${within.toFixed(2)} points (${df} degrees of freedom)`);
  console.log(`\n=== the architecture: ${once.length} nets trained once (the band's random draws)`);
  console.log(`  mean ${mean(once.map(acc)).toFixed(2)}%, SD ${total.toFixed(2)} points; architecture's share sqrt(${total.toFixed(2)}^2 - ${within.toFixed(2)}^2) = ${between.toFixed(2)} points`);

  console.log('\n=== the searched net against the random draws of its seed');
  const margins: number[] = [];
  for (const run of searched.sort((a, b) => a.seed - b.seed)) {
    const rivals = once.filter((t) => t.seed === run.seed).map(acc);
    if (!rivals.length) continue;
    margins.push(acc(run) - mean(rivals));
    console.log(`  seed ${run.seed}: searched ${acc(run).toFixed(2)}%, random mean ${mean(rivals).toFixed(2)}% of ${rivals.length}, margin ${pts(margins[margins.length - 1])}`);
  }
  if (margins.length > 1) {
    const se = sd(margins) / Math.sqrt(margins.length);
    console.log(`  margins: mean ${pts(mean(margins))}, SD ${sd(margins).toFixed(2)}, standard error ${se.toFixed(2)}; searched ahead in ${margins.filter((m) => m > 0).length}/${margins.length} seeds`);
    for (const edge of [0.2, 0.3, 0.5]) console.log(`  a real edge of ${edge.toFixed(1)} points stands 2 standard errors clear after about ${Math.ceil(((2 * sd(margins)) / edge) ** 2)} seeds`);
  }

  console.log("\n=== what a perfect judge of the band would gain over a random draw (expected best of k, architecture's SD)");
  for (const k of bestOf) console.log(`  best of ${k}: +${(expectedMaxOfNormals(k) * between).toFixed(2)} points`);

  const trials = all.filter((t) => t.flags.scoredOn === 'validation');
  const kinds = [...new Set(trials.map((t) => Number(t.flags.trainEpochs)))].sort((a, b) => a - b);
  if (kinds.length) console.log('\n=== the search trials: spread of their validation scores against the noise of one score');
  for (const e of kinds) {
    const scores = trials.filter((t) => Number(t.flags.trainEpochs) === e).map(acc);
    const valImages = Math.round(trainImages * Number(trials.find((t) => Number(t.flags.trainEpochs) === e)!.flags.valFraction));
    const p = mean(scores) / 100;
    const noise = 100 * Math.sqrt((p * (1 - p)) / valImages);
    const spread = scores.length > 1 ? `SD ${sd(scores).toFixed(2)}, range ${Math.min(...scores).toFixed(2)}-${Math.max(...scores).toFixed(2)}` : 'one trial';
    console.log(`  ${e}-epoch trials: ${scores.length}, mean ${mean(scores).toFixed(2)}%, ${spread}; one score's binomial SE on ${valImages} images: ${noise.toFixed(2)} points`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
