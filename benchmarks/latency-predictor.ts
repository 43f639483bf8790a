/**
 * Issue 30's latency-model check: per target, the per-op table of a ProxylessNAS-like space,
 * `--fit` nets of the space timed whole to fit the calibrated predictor (exactly what a search
 * does, engine/latency/calibration.ts), and `--held-out` other nets of the space timed whole to
 * check on. Printed per target, on the held-out nets only: Spearman rank correlation, share within
 * +-10% and median error of the plain table sum and of the predictor.
 *
 *   npx tsx benchmarks/latency-predictor.ts [--targets node-cpu,wasm,browser-wasm,browser-webgl]
 *       [--fit 40] [--held-out 30] [--repeats 20] [--warmup 5] [--state DIR] [--json FILE]
 *
 * `--state DIR` is a local artifact store (default .bench-state/latency-predictor): tables, and the
 * nets timed so far, are kept there, so a rerun after a kill measures only what is missing (the
 * same code paths and files as a pipeline's cached tables). The browser targets start Debian's
 * Chromium (/usr/bin/chromium). Timings are medians of `--repeats` runs at batch 1; nets are
 * timed as a search times them, in three passes over all of them (each net the median of its
 * passes), targets one after the other.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openArtifactStore, getJson, putJson, type ArtifactStore } from '../artifacts';
import { decisionsOf, SearchSpaceSchema } from '../dsl/search-space';
import { encodeBlock } from '../engine/arch/block-string';
import { archFromChoices } from '../engine/arch/from-choices';
import { closeBrowserSessions } from '../engine/latency/browser/session';
import { describeCheck, drawCalibrationChoices, measureCalibrationNets, spacePrices, type CalibrationNet, type SpacePrices } from '../engine/latency/calibration';
import type { LatencyMeasurement } from '../core/ops';
import { checkPredictions, fitPredictor, PLAIN_SUM, predictMs, type PredictionCheck } from '../engine/latency/predictor';
import { enumerateSpaceOps } from '../engine/latency/space-ops';
import { buildOrReuseLatencyTable, loadLatencyTable } from '../activities/latency-table';
import { measureNet } from '../activities/latency-model';
import { builtinRegistry } from '../plugins/registry';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'node-cpu,wasm,browser-wasm,browser-webgl' },
    fit: { type: 'string', default: '40' },
    'held-out': { type: 'string', default: '30' },
    repeats: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    state: { type: 'string', default: '.bench-state/latency-predictor' },
    json: { type: 'string' },
  },
});

/** ProxylessNAS-like, sized for Fashion-MNIST on a CPU: 28 px, stem stride 2, three searched stages (k 3/5/7 x e 3/6, skips). */
const SPACE = SearchSpaceSchema.parse({
  inputResolution: 28,
  stem: { channels: 16, stride: 2 },
  stages: [
    { channels: 24, repeats: 2, stride: 1, kernels: [3, 5, 7], expansions: [3, 6], skip: true },
    { channels: 40, repeats: 3, stride: 2, kernels: [3, 5, 7], expansions: [3, 6], skip: true },
    { channels: 80, repeats: 3, stride: 2, kernels: [3, 5, 7], expansions: [3, 6], skip: true },
  ],
  head: { channels: 256 },
});
const INPUT: [number, number, number] = [28, 28, 1];
const CLASSES = 10;
/** The fitting nets use the search's seed; the held-out nets another, and any net drawn by both is dropped from the held-out. */
const HELD_OUT_SEED = 0x4e1d;

const fit = Number(values.fit);
const heldOut = Number(values['held-out']);
const timing = { warmupRuns: Number(values.warmup), repeats: Number(values.repeats), batchSize: 1 };
const ops = enumerateSpaceOps(SPACE, { inputChannels: INPUT[2], numClasses: CLASSES });
const decisions = decisionsOf(SPACE);
const identity = (c: number[]) => archFromChoices(SPACE, c, { resolution: INPUT[0], inputChannels: 1, numClasses: 2 }).blocks.map(encodeBlock).join(' ');

interface TargetResult {
  target: string;
  ops: number;
  fitNets: number;
  heldOutNets: number;
  plain: PredictionCheck;
  predictor: PredictionCheck;
  coefficients: ReturnType<typeof fitPredictor>;
  tableMinutes: number;
  netsMinutes: number;
}

async function measuredNets(store: ArtifactStore, key: string, choices: number[][], measure: (c: number[]) => Promise<LatencyMeasurement>, prices: SpacePrices): Promise<CalibrationNet[]> {
  const resumeFrom = (await store.head(key)) ? await getJson<CalibrationNet[]>(store, key) : [];
  let last = Date.now();
  const nets = await measureCalibrationNets(choices, prices, measure, {
    resumeFrom,
    checkpointEvery: 5,
    onCheckpoint: async (n) => {
      await putJson(store, key, n);
    },
    onProgress: (done, total) => {
      if (Date.now() - last > 15_000 || done === total) {
        last = Date.now();
        process.stdout.write(`  ${key.split('/').pop()}: ${done}/${total} timings (nets x passes)\n`);
      }
    },
  });
  await putJson(store, key, nets);
  return nets;
}

async function benchTarget(store: ArtifactStore, name: string): Promise<TargetResult> {
  const plugin = builtinRegistry().get('hardware-target', name);
  if (!plugin) throw new Error(`unknown target ${name}`);
  const config = plugin.configSchema.parse(timing);
  const target = { plugin, config };
  const t0 = Date.now();
  const tableKey = await buildOrReuseLatencyTable({
    store,
    target: plugin,
    config,
    ops,
    heartbeat: (p) => {
      if (p.opsDone % 10 === 0 && p.op) process.stdout.write(`  table ${name}: ${p.opsDone}/${p.opsTotal} ops\n`);
    },
  });
  const tableMinutes = (Date.now() - t0) / 60_000;
  const table = await loadLatencyTable(store, tableKey);
  const prices = spacePrices(table, ops);
  const hooks = { heartbeat: () => undefined };
  const measure = (c: number[]) => measureNet({ target, space: SPACE, inputShape: INPUT, numClasses: CLASSES, hooks }, c);
  const fitChoices = drawCalibrationChoices(decisions, fit, identity);
  const fitIds = new Set(fitChoices.map(identity));
  const heldChoices = drawCalibrationChoices(decisions, heldOut + fit, identity, HELD_OUT_SEED)
    .filter((c) => !fitIds.has(identity(c)))
    .slice(0, heldOut);
  const t1 = Date.now();
  const base = tableKey.replace(/\.json$/, '');
  const fitNets = await measuredNets(store, `${base}.bench-fit-${fit}.json`, fitChoices, measure, prices);
  const heldNets = await measuredNets(store, `${base}.bench-held-${heldOut}.json`, heldChoices, measure, prices);
  const predictor = fitPredictor(fitNets.map((n) => ({ features: n.features, measuredMs: n.measuredMs })));
  const measured = heldNets.map((n) => n.measuredMs);
  return {
    target: name,
    ops: table.entries.length,
    fitNets: fitNets.length,
    heldOutNets: heldNets.length,
    plain: checkPredictions(heldNets.map((n) => predictMs(PLAIN_SUM, n.features)), measured),
    predictor: checkPredictions(heldNets.map((n) => predictMs(predictor, n.features)), measured),
    coefficients: predictor,
    tableMinutes,
    netsMinutes: (Date.now() - t1) / 60_000,
  };
}

async function main(): Promise<void> {
  const store = openArtifactStore(values.state!);
  const targets = values.targets!.split(',').filter(Boolean);
  console.log(`latency-model check: ${targets.join(', ')}; fit on ${fit} nets, checked on ${heldOut} held-out nets; batch 1, ${timing.warmupRuns} warm-up + ${timing.repeats} timed runs`);
  console.log(`state: ${values.state} (rerun to resume)`);
  const results: TargetResult[] = [];
  for (const t of targets) {
    console.log(`\n${t}`);
    results.push(await benchTarget(store, t));
    const r = results.at(-1)!;
    console.log(`  table sum (held out):  ${describeCheck(r.plain)}`);
    console.log(`  predictor (held out):  ${describeCheck(r.predictor)}`);
  }
  await closeBrowserSessions();
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const rho = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
  console.log('\n| target | ops | fit / held-out nets | plain: Spearman | plain: within ±10% | plain: median error | predictor: Spearman | predictor: within ±10% | predictor: median error | predictor (ms) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    const c = r.coefficients;
    console.log(
      `| ${r.target} | ${r.ops} | ${r.fitNets} / ${r.heldOutNets} | ${rho(r.plain.spearman)} | ${pct(r.plain.within10)} | ${(100 * r.plain.medianError).toFixed(1)}% | ${rho(r.predictor.spearman)} | ${pct(r.predictor.within10)} | ${(100 * r.predictor.medianError).toFixed(1)}% | ${c.intercept.toFixed(2)} + ${c.perTableMs.toFixed(3)} x sum ${c.perOp >= 0 ? '+' : '-'} ${Math.abs(c.perOp).toFixed(3)} x ops + ${c.perMmac.toFixed(4)} x MMACs |`,
    );
  }
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
  console.log(`\nreproduce: npx tsx benchmarks/latency-predictor.ts --targets ${targets.join(',')} --fit ${fit} --held-out ${heldOut} --repeats ${timing.repeats} --warmup ${timing.warmupRuns}`);
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await closeBrowserSessions();
  process.exit(1);
});
