/**
 * Multi-trial search on the real stack: the strategy's decisions run in workflow code, each trial
 * is an activity that trains a real MBConv candidate, and a rerun reuses stored trials instead of
 * training them again.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, defaultPayloadConverter } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../infra/workflow-bundle';
import { parse as parseYaml } from 'yaml';
import { LocalArtifactStore, getJson } from '../../artifacts';
import { workflowInput } from '../../cli/plan';
import { runLayout } from '../../core/run-layout';
import { resolvePipelineFile } from '../../dsl/load';
import { SearchSpaceSchema } from '../../dsl/search-space';
import { opMacs } from '../../engine/latency/ops';
import { enumerateSpaceOps } from '../../engine/latency/space-ops';
import type { OpSignature } from '../../plugins/api';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import { multiTrialSearchWorkflow, type TrialSummary } from '../../workflows/multi-trial-search';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, waitFor } from './support/cli';
import { writeFashionSubset } from './support/fashion-subset';
import { TINY_SEARCH_SPACE_YAML } from './support/tiny-space';

jest.setTimeout(600_000);

const root = mkdtempSync(join(tmpdir(), 'nas-search-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), 3000, 500);
const artifacts = join(root, 'artifacts');
const workDir = join(root, 'work');
const file = join(root, 'search.yaml');
/** A search over the tiny space, so trials and supernet epochs take seconds. */
function searchYaml(o: { name: string; seed: number; location: string; search: string }): string {
  return `version: 1
name: ${o.name}
seed: ${o.seed}
dataset: { name: fashion-mnist, path: ${dataDir} }
${TINY_SEARCH_SPACE_YAML}stages:
  baselineSearch:
${o.search}
artifacts: { location: ${o.location} }
`;
}

/** A pipeline file of its own for one test run: its YAML, artifact folder and embedded Temporal's folder. */
function ownPipeline(name: string, seed: number, search: string): { yamlFile: string; location: string; work: string } {
  const location = join(root, `${name}-artifacts`);
  const yamlFile = join(root, `${name}.yaml`);
  writeFileSync(yamlFile, searchYaml({ name, seed, location, search }));
  return { yamlFile, location, work: join(root, `${name}-work`) };
}

writeFileSync(
  file,
  searchYaml({
    name: 'tiny-search',
    seed: 2,
    location: artifacts,
    search: `    strategy: { plugin: regularized-evolution, config: { trials: 5, population: 3, sampleSize: 2 } }
    epochs: 1
    batchSize: 64
    latencyWeight: 0.01
    parallelTrials: 2
  compoundScaling:
    baseline: search
    gridStep: 0.1
    trialBudget: 3
    epochs: 1
    phis: [1, 2]`,
  }),
);

interface Summary {
  best: TrialSummary;
  trials: TrialSummary[];
}

test('nas run executes the strategy in a workflow, trains every trial once, stores the table, then scales the best', async () => {
  const result = await runCli(['run', file, '--work-dir', workDir, '--run-id', 'search-1'], cleanEnv());
  expect(result.stderr).not.toMatch(/Error/);
  expectExitedZero(result);
  expect(result.stdout).toMatch(/search: 5 trials; best trial \d+: validation accuracy [\d.]+, latency [\d.]+ ms/);

  const store = new LocalArtifactStore(artifacts);
  const summary = await getJson<Summary>(store, 'runs/search-1/search/summary.json');
  expect(summary.trials.map((t) => t.trial)).toEqual([0, 1, 2, 3, 4]);
  for (const t of summary.trials) {
    expect(t.validationAccuracy).toBeGreaterThan(0);
    expect(t.macs).toBeGreaterThan(0);
    // The macs target charges its default 0.01 ms per million MACs; the score subtracts lambda * LAT / 1 ms.
    expect(t.latencyMs).toBeCloseTo((t.macs / 1e6) * 0.01, 9);
    expect(t.score).toBeCloseTo(t.validationAccuracy - 0.01 * t.latencyMs!, 9);
  }
  expect(summary.best.score).toBe(Math.max(...summary.trials.map((t) => t.score)));
  const trialFiles = readdirSync(join(artifacts, 'runs/search-1/search/trials')).filter((f) => /^trial-\d+\.json$/.test(f));
  expect(trialFiles).toHaveLength(5);

  // Compound scaling took the best trial's architecture as its baseline and scaled it by each phi.
  expect(result.stdout).toMatch(/scaling: 3 grid points; chosen alpha [\d.]+ beta [\d.]+ gamma [\d.]+: validation accuracy [\d.]+/);
  const table = await getJson<{ candidates: { alpha: number; beta: number; gamma: number; macs: number; params: number; validationAccuracy: number }[] }>(
    store,
    'runs/search-1/scaling/table.json',
  );
  expect(table.candidates).toHaveLength(3);
  for (const c of table.candidates) {
    // Every grid point honours alpha * beta^2 * gamma^2 ~ 2 within the default 10%.
    expect(Math.abs((c.alpha * c.beta ** 2 * c.gamma ** 2) / 2 - 1)).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(c.macs).toBeGreaterThan(0);
    expect(c.params).toBeGreaterThan(0);
    expect(c.validationAccuracy).toBeGreaterThan(0);
  }
  for (const phi of [1, 2]) expect(await store.head(runLayout('search-1').scaling.phiArch(phi))).toBeDefined();
});

test('the search workflow replays deterministically, and a rerun reuses stored trials instead of retraining', async () => {
  const server = await startTemporalDevServer({ workDir, ui: false });
  const connection = await Connection.connect({ address: server.address });
  const worker = startCli(['worker'], cleanEnv({ TEMPORAL_ADDRESS: server.address, NAS_TASK_QUEUE: 'search-rerun' }));
  try {
    const client = new Client({ connection });
    // The history of the finished search, replayed against today's workflow code.
    const history = await client.workflow.getHandle('search-1.search').fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'search-1.search');

    const store = new LocalArtifactStore(artifacts);
    const first = await getJson<Summary>(store, 'runs/search-1/search/summary.json');
    const search = workflowInput(resolvePipelineFile(file), 'search-1', artifacts).stages.search;
    if (search?.mode !== 'multi-trial') throw new Error('expected a multi-trial search input');
    const input = search.input;
    const again = await client.workflow.execute(multiTrialSearchWorkflow, {
      workflowId: 'search-1.search-again',
      taskQueue: 'search-rerun',
      args: [input],
    });
    // Same trials, same numbers to the last bit (trainSeconds included): read back, not retrained.
    expect(again.best).toEqual(first.best);
    const second = await getJson<Summary>(store, 'runs/search-1/search/summary.json');
    expect(second.trials).toEqual(first.trials);

    // A long search continues as new to keep its history bounded. With one trial per run and two
    // in parallel, each run observes one trial and hands the other, in flight, to the next: 5
    // trials in 5 runs, and the one result.
    const chained = await client.workflow.execute(multiTrialSearchWorkflow, {
      workflowId: 'search-1.search-chained',
      taskQueue: 'search-rerun',
      args: [{ ...input, trialsPerRun: 1 }],
    });
    expect(chained.best).toEqual(first.best);
    expect(chained.trials).toBe(5);
    const runs = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = 'search-1.search-chained'` })) runs.push(run);
    expect(runs.map((r) => r.status.name).sort()).toEqual(['COMPLETED', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW']);
    const third = await getJson<Summary>(store, 'runs/search-1/search/summary.json');
    expect(third.trials).toEqual(first.trials);
  } finally {
    await stopChild(worker);
    await connection.close();
    await server.stop();
  }
});

test('an absolute latency penalty aims the one-shot search at targetLatencyMs from either side', async () => {
  // The MACs proxy prices this space's nets, stem and head included, at 0.0011 to 0.0036 ms:
  // 0.01 ms is above every net, 0.0001 ms below.
  const run = async (name: string, targetLatencyMs: number) => {
    const { yamlFile, location, work } = ownPipeline(
      name,
      4,
      `    strategy: { plugin: proxyless-gradient, config: { archLearningRate: 0.05 } }
    epochs: 2
    warmupEpochs: 1
    batchSize: 32
    trainSubset: 1000
    latencyWeight: 100
    latencyPenalty: absolute
    targetLatencyMs: ${targetLatencyMs}`,
    );
    const result = await runCli(['run', yamlFile, '--work-dir', work, '--run-id', name], cleanEnv());
    expectExitedZero(result);
    const store = new LocalArtifactStore(location);
    const [warmUp, searched] = await Promise.all([0, 1].map((e) => getJson<{ expectedLatencyMs: number; derivedLatencyMs: number; blocks: string[] }>(store, runLayout(name).search.epoch(e))));
    // The printout says what the expectation covers, in three significant digits (a proxy's "ms" are thousandths).
    const printed = /search epoch 2: .*E\[latency\] of the net ([\d.]+) ms/.exec(result.stdout);
    expect(printed).not.toBeNull();
    expect(Math.abs(Number(printed![1]) / searched.expectedLatencyMs - 1)).toBeLessThan(0.005);
    return { warmUp, searched };
  };
  const above = await run('aim-above', 0.01);
  const below = await run('aim-below', 0.0001);
  // Both start from the same uniform alpha; the architecture steps then climb toward a target
  // above and fall toward one below (a linear penalty would push both down).
  expect(above.warmUp.expectedLatencyMs).toBeCloseTo(below.warmUp.expectedLatencyMs, 12);
  // Under that uniform alpha E[LAT] is the whole net's: the stem, head and classifier of Fashion-MNIST
  // (1 channel, 10 classes) plus each decision's mean option, priced as the MACs proxy prices them.
  const space = SearchSpaceSchema.parse({ ...(parseYaml(TINY_SEARCH_SPACE_YAML) as { searchSpace: object }).searchSpace, inputResolution: 28 });
  const ops = enumerateSpaceOps(space, { inputChannels: 1, numClasses: 10 });
  const proxyMs = (o: OpSignature | null) => (o ? (opMacs(o) / 1e6) * 0.01 : 0);
  const uniform = ops.fixed.reduce((s, o) => s + proxyMs(o), 0) + ops.decisions.reduce((s, d) => s + d.options.reduce((t, o) => t + proxyMs(o), 0) / d.options.length, 0);
  expect(ops.fixed).toHaveLength(4);
  expect(above.warmUp.expectedLatencyMs).toBeCloseTo(uniform, 12);
  expect(above.searched.expectedLatencyMs).toBeGreaterThan(above.warmUp.expectedLatencyMs);
  expect(below.searched.expectedLatencyMs).toBeLessThan(below.warmUp.expectedLatencyMs);
  expect(below.searched.blocks.length).toBeLessThan(above.searched.blocks.length);
  // The derived net meets the target, not only E[LAT]; below every net it is the fastest net of the space.
  expect(above.searched.derivedLatencyMs).toBeLessThanOrEqual(0.01);
  const fastest = ops.fixed.reduce((s, o) => s + proxyMs(o), 0) + ops.decisions.reduce((s, d) => s + Math.min(...d.options.map(proxyMs)), 0);
  expect(below.searched.derivedLatencyMs).toBeCloseTo(fastest, 12);
});

test('a search at another resolution than the data set\'s own prices, trains and derives every net at that resolution', async () => {
  // Fashion-MNIST is 28 px; at resolution 32 the supernet, its latency table, the band draws and
  // the trials must all work at 32 (the table once used 32 and the supernet 28: no op in common).
  const name = 'at-32px';
  const { yamlFile, location, work } = ownPipeline(
    name,
    6,
    `    strategy: { plugin: proxyless-gradient }
    epochs: 2
    warmupEpochs: 1
    batchSize: 32
    trainSubset: 600
    latencyWeight: 0.01
    bandTrials: { trials: 2, epochs: 1, band: 0.9 }`,
  );
  writeFileSync(yamlFile, readFileSync(yamlFile, 'utf8').replace(`path: ${dataDir} }`, `path: ${dataDir}, resolution: 32 }`));
  const result = await runCli(['run', yamlFile, '--work-dir', work, '--run-id', name], cleanEnv());
  expectExitedZero(result);
  const store = new LocalArtifactStore(location);
  const derived = await getJson<{ resolution: number; inputChannels: number }>(store, runLayout(name).search.derived);
  expect(derived).toMatchObject({ resolution: 32, inputChannels: 1 });
  const band = await getJson<{ latencyTableKey?: string; trials: { archKey: string }[] }>(store, runLayout(name).search.bandTrials);
  expect(band.trials).toHaveLength(3);
  for (const t of band.trials) expect((await getJson<{ resolution: number }>(store, t.archKey)).resolution).toBe(32);
  const tables = (await store.list('latency-tables/macs/')).filter((k) => !k.endsWith('.partial.json'));
  expect(tables).toHaveLength(1);
  const keys = (await getJson<{ entries: { key: string }[] }>(store, tables[0])).entries.map((e) => e.key);
  // The stem reads 32x32 single-channel images; no op is priced at the data set's own 28 px.
  expect(keys.some((k) => k.startsWith('conv_32x32x1_'))).toBe(true);
  expect(keys.filter((k) => /_28x28x/.test(k) || /_14x14x/.test(k))).toEqual([]);
});

test('a ProxylessNAS search whose worker is SIGKILLed resumes from its supernet checkpoint on another worker', async () => {
  const oneShotFile = join(root, 'one-shot.yaml');
  const oneShotArtifacts = join(root, 'one-shot-artifacts');
  writeFileSync(
    oneShotFile,
    searchYaml({
      name: 'tiny-oneshot',
      seed: 4,
      location: oneShotArtifacts,
      search: `    strategy: { plugin: proxyless-gradient }
    epochs: 2
    warmupEpochs: 1
    batchSize: 32
    latencyWeight: 0.1
    checkpointEverySteps: 10
    heartbeatTimeoutSeconds: 5`,
    }),
  );
  const server = await startTemporalDevServer({ workDir: join(root, 'one-shot-work'), ui: false });
  const connection = await Connection.connect({ address: server.address });
  const env = cleanEnv({ TEMPORAL_ADDRESS: server.address, NAS_TASK_QUEUE: 'one-shot' });
  const first = startCli(['worker', '--identity', 'first'], env);
  const submitter = startCli(['run', oneShotFile, '--run-id', 'one-shot-1'], env);
  const submitterExit = new Promise<number | null>((resolve) => submitter.once('close', resolve));
  let second: ReturnType<typeof startCli> | undefined;
  try {
    const client = new Client({ connection });
    // Epoch 2 (index 1) has architecture steps; kill once it has checkpointed inside that epoch.
    const stepsPerEpoch = Math.ceil((3000 - 300) / 32);
    const progress = await waitFor(
      'a supernet checkpoint inside the second epoch',
      async () => {
        const d = await client.workflow.getHandle('one-shot-1.search').describe();
        const payload = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
        const details = payload ? defaultPayloadConverter.fromPayload<{ epoch: number; step: number; checkpointKey: string }>(payload) : undefined;
        const at = details?.checkpointKey ? Number(/step-(\d+)/.exec(details.checkpointKey)?.[1]) : 0;
        return details && details.epoch === 1 && at >= stepsPerEpoch + 10 ? { ...details, at } : undefined;
      },
      300_000,
      100,
    );
    first.kill('SIGKILL');
    second = startCli(['worker', '--identity', 'second'], env);
    expect(await submitterExit).toBe(0);
    const out = submitter.output().stdout;
    expect(out).toMatch(/search epoch 2: loss [\d.]+, entropy [\d.]+, derived-net validation accuracy [\d.]+, E\[latency\] of the net [\d.]+ ms/);
    const store = new LocalArtifactStore(oneShotArtifacts);
    const epoch2 = await getJson<{ resumedFromStep: number; steps: number }>(store, 'runs/one-shot-1/search/epochs/epoch-0001.json');
    // The retry started from a checkpoint at or after the one seen before the kill, not from the epoch's start.
    expect(epoch2.resumedFromStep).toBeGreaterThanOrEqual(progress.at);
    expect(epoch2.steps).toBe(2 * stepsPerEpoch);
    expect(await store.head('runs/one-shot-1/search/derived.arch.json')).toBeDefined();
    const table = (await store.list('latency-tables/macs/')).filter((k) => k.endsWith('.json'));
    expect(table).toHaveLength(1);
  } finally {
    if (second) await stopChild(second);
    await stopChild(first);
    await stopChild(submitter);
    await connection.close();
    await server.stop();
  }
});

/** A one-shot search on the tiny space with band trials of 3 nets, one epoch each, and `more` band settings. */
function bandSearch(more: string): string {
  return `    strategy: { plugin: proxyless-gradient }
    epochs: 2
    warmupEpochs: 1
    batchSize: 32
    trainSubset: 1000
    latencyWeight: 0.01
    parallelTrials: 2
    bandTrials: { trials: 3, epochs: 1, band: 0.9${more} }`;
}

test("a user's one-shot strategy (Gumbel-softmax, its own update rule) runs a supernet search end to end", async () => {
  const name = 'gumbel';
  const plugin = join(__dirname, '..', 'fixtures', 'plugins', 'gumbel-softmax.ts');
  const { yamlFile, location, work } = ownPipeline(
    name,
    3,
    `    strategy: { plugin: gumbel-softmax }
    epochs: 2
    warmupEpochs: 1
    batchSize: 32
    trainSubset: 1000
    latencyWeight: 0.1`,
  );
  writeFileSync(yamlFile, `plugins: [${plugin}]\n${readFileSync(yamlFile, 'utf8')}`);
  // The fixture lives outside the pipeline's temp folder, which a pipeline may name only when allowed.
  const result = await runCli(['run', yamlFile, '--work-dir', work, '--run-id', name], cleanEnv({ NAS_ALLOW_PLUGINS_OUTSIDE: '1' }));
  expectExitedZero(result);
  expect(result.stdout).toMatch(/search epoch 2: loss [\d.]+, entropy [\d.]+, derived-net validation accuracy [\d.]+, E\[latency\] of the net [\d.]+ ms/);
  expect(result.stdout).toMatch(/ {4}derived: .* \([\d.]+ ms by the search's latency model\)/);
  const store = new LocalArtifactStore(location);
  const epochs = await Promise.all([0, 1].map((e) => getJson<{ meanEntropy: number; choices: number[] }>(store, runLayout(name).search.epoch(e))));
  // The warm-up epoch leaves the logits where init put them; the strategy's own steps move them.
  expect(epochs[1].meanEntropy).toBeLessThan(epochs[0].meanEntropy);
  expect(await store.head(runLayout(name).search.derived)).toBeDefined();
  const status = await runCli(['status', name, '--work-dir', work], cleanEnv(), 60_000);
  expect(status.stdout).toContain(`plugin search-strategy gumbel-softmax`);
  expect(status.stdout).toContain(plugin);
});

test('band trials with halving run successive halving over the band nets, and the pick is the best of its last rung', async () => {
  const name = 'band-halving';
  const { yamlFile, location, work } = ownPipeline(
    name,
    4,
    bandSearch(', halving: { eta: 2, maxEpochs: 2 }'),
  );
  const result = await runCli(['run', yamlFile, '--work-dir', work, '--run-id', name], cleanEnv());
  expectExitedZero(result);
  const summary = await getJson<{ pick: number; trials: (TrialSummary & { tableMs: number })[] }>(new LocalArtifactStore(location), runLayout(name).search.bandTrials);
  // Rung 0: the derived net and the 3 band nets for 1 epoch; rung 1: the better 2 of them again, for 2.
  expect(summary.trials.map((t) => [t.trial, t.epochs])).toEqual([[0, 1], [1, 1], [2, 1], [3, 1], [4, 2], [5, 2]]);
  const firstRung = summary.trials.slice(0, 4);
  const promoted = [...firstRung].sort((a, b) => b.validationAccuracy - a.validationAccuracy || a.trial - b.trial).slice(0, 2);
  expect(summary.trials.slice(4).map((t) => t.choices)).toEqual(promoted.map((t) => t.choices));
  expect(summary.trials.slice(4).map((t) => t.tableMs)).toEqual(promoted.map((t) => t.tableMs));
  const lastRung = summary.trials.slice(4);
  const pick = lastRung.reduce((a, b) => (b.validationAccuracy > a.validationAccuracy ? b : a));
  expect(summary.pick).toBe(pick.trial);
  expect(result.stdout).toContain('halving budgets: 4 trials at 1 epoch, 2 trials at 2 epochs');
  expect(result.stdout).toMatch(/halving training took [\d.]+ s over all trials; 4 candidates each at the full 2 epochs would take [\d.]+ s/);
  const out = join(root, `${name}-report.html`);
  expectExitedZero(await runCli(['report', name, '--artifacts', location, '--no-temporal', '--out', out], cleanEnv(), 60_000));
  expect(readFileSync(out, 'utf8')).toContain('then successive halving (eta 2, up to 2 epochs)');
});

test('band trials after a one-shot search train the derived net and nets of its latency band alone, and hand the best on', async () => {
  const name = 'band-trials';
  const { yamlFile, location, work } = ownPipeline(
    name,
    4,
    `${bandSearch('')}
  compoundScaling:
    baseline: search
    gridStep: 0.1
    trialBudget: 1
    epochs: 1
    phis: [1]`,
  );
  const result = await runCli(['run', yamlFile, '--work-dir', work, '--run-id', name], cleanEnv());
  expectExitedZero(result);
  const store = new LocalArtifactStore(location);
  interface BandSummary {
    config: { trials: number; epochs: number; band: number; parallelTrials: number };
    referenceMs: number;
    pick: number;
    trials: (TrialSummary & { tableMs: number })[];
  }
  const summary = await getJson<BandSummary>(store, runLayout(name).search.bandTrials);
  const lastEpoch = await getJson<{ blocks: string[] }>(store, runLayout(name).search.epoch(1));
  // Trial 0 is the supernet's derived net; the others are distinct nets of its band, never slower.
  expect(summary.config).toEqual({ trials: 3, epochs: 1, band: 0.9, parallelTrials: 2 });
  expect(summary.trials.map((t) => t.trial)).toEqual([0, 1, 2, 3]);
  expect(summary.trials[0].blocks).toEqual(lastEpoch.blocks);
  expect(summary.trials[0].tableMs).toBe(summary.referenceMs);
  expect(new Set(summary.trials.map((t) => t.blocks.join(' '))).size).toBe(4);
  for (const t of summary.trials.slice(1)) {
    expect(t.tableMs).toBeLessThanOrEqual(summary.referenceMs);
    expect(t.tableMs).toBeGreaterThanOrEqual(0.1 * summary.referenceMs);
  }
  // The pick is the best validation accuracy, and it is what scaling received as its baseline.
  const best = Math.max(...summary.trials.map((t) => t.validationAccuracy));
  const pick = summary.trials.find((t) => t.trial === summary.pick)!;
  expect(pick.validationAccuracy).toBe(best);
  expect(summary.trials.findIndex((t) => t.validationAccuracy === best)).toBe(summary.pick);
  expect(result.stdout).toContain(`band trials: the derived net`);
  expect(result.stdout).toContain(`pick, the search result: ${summary.pick === 0 ? 'the derived net' : `trial ${summary.pick}`}, validation accuracy ${best.toFixed(4)}`);
  // The report reads the band trials back from the store and marks the pick.
  const out = join(root, `${name}-report.html`);
  expectExitedZero(await runCli(['report', name, '--artifacts', location, '--no-temporal', '--out', out], cleanEnv(), 60_000));
  const page = readFileSync(out, 'utf8');
  expect(page).toContain('<h3>Band trials</h3>');
  expect(page.match(/<tr class="chosen"><td class="num">([^<]+)<\/td>/g)?.some((row) => row.includes(`>${summary.pick === 0 ? '0 (derived)' : summary.pick}<`))).toBe(true);

  const server = await startTemporalDevServer({ workDir: work, ui: false });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const scalingHistory = await client.workflow.getHandle(`${name}.scaling`).fetchHistory();
    const scalingInput = defaultPayloadConverter.fromPayload<{ baseline: { archKey: string } }>(
      scalingHistory.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0],
    );
    expect(scalingInput.baseline).toEqual({ archKey: pick.archKey });
    // The search workflow with its band trials replays against today's code.
    const searchHistory = await client.workflow.getHandle(`${name}.search`).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, searchHistory, `${name}.search`);
  } finally {
    await connection.close();
    await server.stop();
  }
});
