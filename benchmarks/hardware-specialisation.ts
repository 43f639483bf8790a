/**
 * Issue 30's hardware-specialisation check (ProxylessNAS section 4's finding, on our targets):
 * the pipeline `--pipeline` (default benchmarks/specialisation.yaml: a space where the targets price
 * blocks differently) is run once per target id of `--targets` with its search aimed at that
 * target, through `nas run` as a user runs it; then every derived net is timed whole on every
 * target, in `--rounds` interleaved rounds (the median of the rounds' medians is printed). The
 * claim holds when each target's own net is the faster one on that target.
 *
 *   npx tsx benchmarks/hardware-specialisation.ts [--pipeline benchmarks/specialisation.yaml]
 *       [--targets browser,cpu] [--rounds 5] [--repeats 30] [--state DIR] [--budget-quantile 0.2]
 *
 * `--budget-quantile q` (default 0.2) gives each search the same budget in its own target's terms:
 * the pipeline's penalty becomes `absolute` with `targetLatencyMs` the q-quantile of the whole-net
 * latencies of the target's calibration nets (measured first, in the runs' own store, so the
 * searches reuse the table and calibration rather than measure them again). `--budget-quantile off`
 * keeps the pipeline's own latency settings for every target. `--latency-weight L` replaces the
 * pipeline's lambda, `--arch-lr R` the strategy's architecture learning rate, `--epochs E` the
 * search's epochs, `--train-subset N` its training images.
 *
 * `--state DIR` (default .bench-state/specialisation) holds the runs' work folder: a search that
 * completed there is reused, so a rerun only times.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { buildOrReuseCalibration, loadCalibration } from '../activities/latency-model';
import { buildOrReuseLatencyTable, searchOps } from '../activities/latency-table';
import { datasetFor } from '../activities/context';
import { openArtifactStore } from '../artifacts';
import { DEFAULT_CALIBRATION_NETS } from '../core/stage-settings';
import type { StageData } from '../dsl/dataset';
import { SearchSpaceSchema } from '../dsl/search-space';
import { ArchSpecSchema, type ArchSpec } from '../engine/arch/spec';
import { quantile } from '../engine/latency/timing';
import { closeBrowserSessions } from '../engine/latency/browser/session';
import { buildArchModel } from '../engine/models/arch-model';
import { runLayout } from '../core/run-layout';
import { builtinRegistry } from '../plugins/registry';
import { withSavedModel } from '../activities/target-measure';
import { repoRoot } from '../infra/paths';

const { values } = parseArgs({
  options: {
    pipeline: { type: 'string', default: 'benchmarks/specialisation.yaml' },
    targets: { type: 'string', default: 'browser,cpu' },
    rounds: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '30' },
    state: { type: 'string', default: '.bench-state/specialisation' },
    'budget-quantile': { type: 'string', default: '0.2' },
    'latency-weight': { type: 'string' },
    'arch-lr': { type: 'string' },
    epochs: { type: 'string' },
    'train-subset': { type: 'string' },
  },
});

interface PipelineDoc {
  name: string;
  seed?: number;
  searchSpace: unknown;
  hardwareTargets: Record<string, { plugin: string; config?: Record<string, unknown> }>;
  stages: {
    baselineSearch: { target: string; calibrationNets?: number; latencyPenalty?: string; targetLatencyMs?: number; epochs?: number; strategy?: { plugin: string; config?: Record<string, unknown> } };
  };
}

const state = resolve(values.state!);
const workDir = join(state, 'work');
const targetIds = values.targets!.split(',');
const rounds = Number(values.rounds);
const repeats = Number(values.repeats);
const template = parse(readFileSync(values.pipeline!, 'utf8')) as PipelineDoc;
const budgetQuantile = values['budget-quantile'] === 'off' ? undefined : Number(values['budget-quantile']);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs the pipeline searching for `target` unless a completed run left its derived net; returns the net's file. */
async function searchFor(target: string): Promise<string> {
  const runId = `spec-${target}`;
  const derived = join(workDir, 'artifacts', runLayout(runId).search.derived);
  if (existsSync(derived)) {
    console.log(`${runId}: reusing the search in ${derived}`);
    return derived;
  }
  mkdirSync(state, { recursive: true });
  const budget = budgetQuantile !== undefined ? await latencyBudget(target, budgetQuantile) : undefined;
  const weight = values['latency-weight'] !== undefined ? { latencyWeight: Number(values['latency-weight']) } : {};
  const base = template.stages.baselineSearch;
  const archLr = values['arch-lr'] !== undefined ? { strategy: { plugin: base.strategy?.plugin ?? 'proxyless-gradient', config: { ...(base.strategy?.config ?? {}), archLearningRate: Number(values['arch-lr']) } } } : {};
  const epochs = values.epochs !== undefined ? { epochs: Number(values.epochs) } : {};
  const subset = values['train-subset'] !== undefined ? { trainSubset: Number(values['train-subset']) } : {};
  const search = { ...base, target, ...weight, ...archLr, ...epochs, ...subset, ...(budget !== undefined ? { latencyPenalty: 'absolute', targetLatencyMs: Number(budget.toFixed(3)) } : {}) };
  const doc = { ...template, name: `${template.name}-for-${target}`, stages: { ...template.stages, baselineSearch: search } };
  const file = join(state, `${runId}.yaml`);
  writeFileSync(file, stringify(doc));
  console.log(`${runId}: nas run ${file} (search aimed at ${target}: ${doc.hardwareTargets[target].plugin}${budget !== undefined ? `, budget ${budget.toFixed(2)} ms` : ''})`);
  const started = Date.now();
  // --workers 1: the search is one supernet; a second process would only share its cores.
  const run = spawnSync(process.execPath, [join(repoRoot(), 'bin', 'nas.js'), 'run', file, '--work-dir', workDir, '--run-id', runId, '--workers', '1'], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`nas run for ${target} exited ${run.status}`);
  console.log(`${runId}: searched in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  return derived;
}

/**
 * The q-quantile of the target's calibration nets' whole-net latency: the table and calibration
 * are built (or reused) in the runs' store exactly as the search activity builds them, so the
 * search that follows finds both cached.
 */
async function latencyBudget(targetId: string, q: number): Promise<number> {
  const ref = template.hardwareTargets[targetId];
  const plugin = builtinRegistry().get('hardware-target', ref.plugin)!;
  const config = plugin.configSchema.parse(ref.config ?? {});
  const store = openArtifactStore(join(workDir, 'artifacts'));
  const space = SearchSpaceSchema.parse(template.searchSpace);
  const dataset: StageData = { name: 'fashion-mnist', resolution: 28, validationFraction: 0.1 };
  const data = datasetFor(dataset, template.seed ?? 1);
  const ops = searchOps(space, dataset, data);
  const tableKey = await buildOrReuseLatencyTable({ store, target: plugin, config, ops, heartbeat: () => undefined });
  const key = await buildOrReuseCalibration({
    store,
    target: { plugin, config },
    space,
    ops,
    inputShape: [28, 28, data.channels],
    numClasses: data.numClasses,
    tableKey,
    nets: template.stages.baselineSearch.calibrationNets ?? DEFAULT_CALIBRATION_NETS,
    hooks: { heartbeat: () => undefined },
  });
  const measured = (await loadCalibration(store, key)).nets.map((n) => n.measuredMs).sort((a, b) => a - b);
  return quantile(measured, q);
}

async function main(): Promise<void> {
  if (budgetQuantile !== undefined && !(budgetQuantile > 0 && budgetQuantile < 1)) throw new Error(`--budget-quantile must be a number between 0 and 1, or off; got ${values['budget-quantile']}`);
  const nets: { target: string; spec: ArchSpec }[] = [];
  for (const t of targetIds) nets.push({ target: t, spec: ArchSpecSchema.parse(JSON.parse(readFileSync(await searchFor(t), 'utf8'))) });
  const registry = builtinRegistry();
  const targets = targetIds.map((id) => {
    const ref = template.hardwareTargets[id];
    const plugin = registry.get('hardware-target', ref.plugin)!;
    return { id, plugin, config: plugin.configSchema.parse({ ...(ref.config ?? {}), repeats }) };
  });
  for (const n of nets) console.log(`net searched for ${n.target}: ${n.spec.blocks.length} blocks, ${n.spec.blocks.map((b) => `k${b.kernel}e${b.expansion}${b.seRatio > 0 ? '+se' : ''}`).join(' ')}`);
  const [side, , channels] = [nets[0].spec.resolution, 0, nets[0].spec.inputChannels];
  const times = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      // The order of the nets alternates by round, so neither always runs on a warmer machine.
      const order = r % 2 ? [...nets].reverse() : nets;
      for (const n of order) {
        const model = buildArchModel(n.spec, { inferenceOnly: true });
        const m = await withSavedModel(model, (dir) => t.plugin.measureModel!(dir, [side, side, channels], { config: t.config, heartbeat: () => undefined }));
        model.dispose();
        const key = `${n.target}@${t.id}`;
        times.set(key, [...(times.get(key) ?? []), m.medianMs]);
        console.log(`  round ${r + 1}: net for ${n.target} on ${t.id} (${t.plugin.name}): ${m.medianMs.toFixed(2)} ms`);
      }
    }
  }
  await closeBrowserSessions();
  console.log(`\nmedian of ${rounds} rounds' medians (ms, batch 1, ${repeats} timed runs each):`);
  console.log(`| net searched for | ${targets.map((t) => `on ${t.id} (${t.plugin.name})`).join(' | ')} |`);
  console.log(`|---|${targets.map(() => '---:').join('|')}|`);
  for (const n of nets) console.log(`| ${n.target} | ${targets.map((t) => median(times.get(`${n.target}@${t.id}`)!).toFixed(2)).join(' | ')} |`);
  for (const t of targets) {
    const own = median(times.get(`${t.id}@${t.id}`)!);
    const others = nets.filter((n) => n.target !== t.id).map((n) => median(times.get(`${n.target}@${t.id}`)!));
    const best = Math.min(...others);
    // Rounds in which the own net beat every other net timed in the same round: the machine's
    // load moves between rounds more than within one.
    const wins = times.get(`${t.id}@${t.id}`)!.filter((ms, r) => nets.every((n) => n.target === t.id || ms < times.get(`${n.target}@${t.id}`)![r])).length;
    console.log(
      `on ${t.id}: its own net ${own.toFixed(2)} ms vs ${best.toFixed(2)} ms: ${own < best ? `faster by ${(100 * (1 - own / best)).toFixed(1)}%` : `NOT faster (${(100 * (own / best - 1)).toFixed(1)}% slower)`}; faster in ${wins} of ${rounds} rounds`,
    );
  }
  const extra = ` --budget-quantile ${values['budget-quantile']}${values['latency-weight'] !== undefined ? ` --latency-weight ${values['latency-weight']}` : ''}${values['arch-lr'] !== undefined ? ` --arch-lr ${values['arch-lr']}` : ''}${values.epochs !== undefined ? ` --epochs ${values.epochs}` : ''}${values['train-subset'] !== undefined ? ` --train-subset ${values['train-subset']}` : ''}`;
  console.log(`\nreproduce: npx tsx benchmarks/hardware-specialisation.ts --pipeline ${values.pipeline} --targets ${values.targets} --rounds ${rounds} --repeats ${repeats}${extra}`);
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await closeBrowserSessions();
  process.exit(1);
});
