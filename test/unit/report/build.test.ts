/** The report builder on partial runs: missing stages become one-line notes, present ones their charts. */
import { runLayout } from '../../../core/run-layout';
import { budgetUse } from '../../../workflows/trial-budgets';
import { buildReport } from '../../../report/build';
import type { ChartSpec } from '../../../report/charts';
import { paretoFront } from '../../../report/pareto';
import type { ReportInput, RunArtifacts, ScalingTable } from '../../../report/types';
import type { Pipeline } from '../../../dsl/pipeline';

const LIBRARY = '/* chart library */';

function chartsOf(html: string): ChartSpec[] {
  const json = /<script type="application\/json" id="report-charts">(.*?)<\/script>/s.exec(html)?.[1];
  return JSON.parse(json!) as ChartSpec[];
}

const table: ScalingTable = {
  objective: 'accuracy',
  grid: { gridStep: 0.1, maxCoefficient: 1.5, costRatio: 2, tolerance: 0.05, trialBudget: 2 },
  chosen: '1.2_1.1_1.15',
  candidates: [
    { alpha: 1.4, beta: 1.1, gamma: 1.05, cost: 1.87, resolution: 30, macs: 9.1e6, params: 2.1e5, latencyMs: null, validationAccuracy: 0.81, score: 0.81, eligible: true, archKey: 'a' },
    { alpha: 1.2, beta: 1.1, gamma: 1.15, cost: 1.92, resolution: 33, macs: 9.8e6, params: 2.0e5, latencyMs: null, validationAccuracy: 0.84, score: 0.84, eligible: true, archKey: 'b' },
  ],
};

function input(artifacts: Partial<RunArtifacts>, pipelineStages?: Record<string, unknown>): ReportInput {
  return {
    artifacts: {
      runId: 'r-1',
      location: 'file:///tmp/artifacts',
      elastic: [],
      pipeline: pipelineStages && ({ name: 'demo', dataset: { name: 'fashion-mnist' }, stages: pipelineStages, hardwareTargets: {} } as unknown as Pipeline),
      ...artifacts,
    },
    timingNote: 'Stage times not read: --no-temporal.',
    generatedAt: '2026-01-01T00:00:00.000Z',
  };
}

test('only a scaling table: its chart and table; the other sections are one-line notes saying why', () => {
  const { html, summary } = buildReport(input({ scaling: table }, { compoundScaling: {}, elasticTraining: {} }), LIBRARY);
  expect(chartsOf(html).map((c) => c.id)).toEqual(['chart-scaling']);
  expect(html).toContain('<canvas id="chart-scaling"');
  expect(html).not.toContain('chart-search');
  expect(summary.scaling?.chosen).toMatchObject({ alpha: 1.2, beta: 1.1, gamma: 1.15 });
  expect(summary.omitted.map((o) => o.section)).toEqual(['search', 'pareto', 'elastic']);
  // What the pipeline declares tells "no such stage" from "not written yet".
  expect(summary.omitted.find((o) => o.section === 'search')?.reason).toMatch(/the pipeline has no stages\.baselineSearch/);
  expect(summary.omitted.find((o) => o.section === 'elastic')?.reason).toMatch(/stages\.elasticTraining has not written them yet/);
  for (const o of summary.omitted) expect(html).toContain(`<section id="${o.section}"><h2>`);
  expect(html.match(/<p class="omitted">/g)).toHaveLength(4); // three sections and the stage times
  expect(html).toContain('<tr class="chosen">');
  expect(html).toContain(LIBRARY);
});

test('nothing but the run id: a valid page with no charts, every section noted', () => {
  const { html, summary } = buildReport(input({}), LIBRARY);
  expect(chartsOf(html)).toEqual([]);
  expect(summary.omitted).toHaveLength(4);
  expect(summary.omitted[0].reason).toMatch(/^No search epochs or trials .* under runs\/r-1\/: the run has no such stage/);
  expect(html.startsWith('<!doctype html>')).toBe(true);
  // Nothing may be fetched: the policy forbids every source (quotes are escaped in the attribute).
  expect(html).toContain('http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;');
});

test('a multi-trial search still running: trials without scores, no best yet', () => {
  const trial = (n: number, acc: number) => ({ trial: n, choices: [n], archKey: `t${n}`, blocks: ['e3_k3_s1_c16'], validationAccuracy: acc, params: 1e5, macs: 4e6, latencyMs: 1 + n, trainSeconds: 3 });
  const { html, summary } = buildReport(input({ search: { mode: 'multi-trial', trials: [trial(0, 0.7), trial(1, 0.75)], finished: false, targetId: 'cpu' } }), LIBRARY);
  const [chart] = chartsOf(html);
  expect(chart.id).toBe('chart-search');
  expect(chart.config.data.datasets.map((d) => d.label)).toEqual(['validation accuracy', 'latency (ms)']);
  expect(summary.search).toMatchObject({ mode: 'multi-trial', trials: 2, finished: false });
  expect(html).toContain('still running');
});

test('a multi-fidelity search: each trial with its budget, the training it saved, and the plugins the run used', () => {
  const trial = (n: number, epochs: number, acc: number) => ({ trial: n, choices: [n % 3], archKey: `t${n}`, blocks: ['e3_k3_s1_c16'], validationAccuracy: acc, params: 1e5, macs: 4e6, trainSeconds: 2 * epochs, epochs, score: acc });
  const trials = [trial(0, 1, 0.6), trial(1, 1, 0.7), trial(2, 1, 0.5), trial(3, 3, 0.8)];
  const budgets = budgetUse(trials, 3)!;
  const plugins = [
    { kind: 'search-strategy' as const, name: 'my-halving', version: '0.2.0', source: '/repo/my-halving.ts', sha256: 'ab'.repeat(32) },
    { kind: 'hardware-target' as const, name: 'macs', version: '0.2.0', source: 'built-in (hwnas 0.1.0)' },
  ];
  const { html } = buildReport(input({ plugins, search: { mode: 'multi-trial', trials, best: 3, finished: true, strategy: 'my-halving', budgets } }), LIBRARY);
  expect(html).toContain('<th class="num">epochs</th>');
  expect(html).toContain('budgets: 3 trials at 1 epoch, 1 trial at 3 epochs');
  // Spent 2 x 3 + 6 = 12 s; each of the 3 candidates at 3 epochs, 6 s: 18 s.
  expect(html).toContain('training took 12.0 s over all trials; 3 candidates each at the full 3 epochs would take 18.0 s');
  expect(html).toContain('saved 6.0 s (33%)');
  expect(html).toContain('my-halving 0.2.0 <span class="omitted">(/repo/my-halving.ts, sha256 abababababab)</span>');
});

test('text from artifacts is escaped, in the page and inside the charts JSON', () => {
  const evil = '</script><script>alert(1)</script>';
  const trial = { trial: 0, choices: [0], archKey: 't0', blocks: [evil], validationAccuracy: 0.7, params: 1e5, macs: 4e6, trainSeconds: 3 };
  const { html } = buildReport(input({ scaling: { ...table, target: evil }, search: { mode: 'multi-trial', trials: [trial], finished: false } }), LIBRARY);
  expect(html).not.toContain('<script>alert(1)');
  expect(html).toContain('&lt;/script&gt;&lt;script&gt;alert(1)');
  expect(html).toContain('\\u003c/script>\\u003cscript>alert(1)');
  expect(chartsOf(html)[0].config.data.datasets[0].data[0]).toMatchObject({ label: `trial 0: ${evil}` });
});

test('Pareto front: dominated points are dropped, ties keep the more accurate', () => {
  const pts = [
    { latencyMs: 2, accuracy: 0.8 },
    { latencyMs: 1, accuracy: 0.7 },
    { latencyMs: 3, accuracy: 0.75 }, // slower and less accurate than the first
    { latencyMs: 1, accuracy: 0.72 },
    { latencyMs: 5, accuracy: 0.9 },
  ];
  expect(paretoFront(pts)).toEqual([3, 0, 4]);
});

test('a one-shot epoch finished by an earlier attempt has no mean loss: the table shows a dash, not a crash', () => {
  const epoch = (e: number, meanLoss?: number) => ({
    epoch: e,
    steps: 10 * (e + 1),
    meanLoss,
    meanEntropy: 0.9,
    validationAccuracy: 0.5,
    blocks: ['e3_k3_s1_c16'],
    choices: [0],
    resumedFromStep: 0,
    checkpointKey: 'k',
  });
  const { html } = buildReport(input({ search: { mode: 'one-shot', epochs: [epoch(0, 1.25), epoch(1)] } }), LIBRARY);
  expect(html).toContain('<td class="num">1.25</td>');
  expect(html).toContain('<td class="num">–</td>');
});

test('a one-shot search with band trials shows every trial and marks the pick, the search result', () => {
  const epoch = { epoch: 0, steps: 10, meanLoss: 1, meanEntropy: 0.9, validationAccuracy: 0.5, blocks: ['e3_k3_s1_c16'], choices: [0], resumedFromStep: 0, checkpointKey: 'k' };
  const trial = (n: number, validationAccuracy: number, blocks: string) => ({
    trial: n,
    choices: [n],
    blocks: [blocks],
    validationAccuracy,
    params: 1000,
    macs: 2e6,
    trainSeconds: 3,
    archKey: runLayout('r').search.trialArch(n),
    tableMs: 4 - 0.1 * n,
  });
  const band = { config: { trials: 2, epochs: 1, band: 0.1, parallelTrials: 2 }, draws: 40, referenceMs: 4, pick: 2, trials: [trial(0, 0.8, 'e3_k3_s1_c16'), trial(1, 0.7, 'e3_k5_s1_c16'), trial(2, 0.85, 'e6_k3_s1_c16')] };
  const { html } = buildReport(input({ search: { mode: 'one-shot', epochs: [epoch], band } }), LIBRARY);
  expect(html).toContain('<h3>Band trials</h3>');
  expect(html).toContain('The derived net and 2 nets drawn from its latency band (up to 10% faster by the table, never slower), each trained alone for 1 epoch; the best validation accuracy, trial 2, is the search');
  expect(html).toContain('<td class="num">0 (derived)</td>');
  expect(html).toMatch(/<tr class="chosen"><td class="num">2<\/td><td class="num">0\.8500<\/td><td class="num">3\.800<\/td>/);
});

test('a model at chance is flagged in its row, under the table, in the header and in report.json', () => {
  const classNames = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const model = (id: string, label: string, testAccuracy: number) => ({
    id,
    role: 'scaled' as const,
    label,
    params: 1e5,
    macs: 4e6,
    testAccuracy,
    perClassAccuracy: classNames.map(() => testAccuracy),
    latency: { cpu: { medianMs: 1, p90Ms: 1.2 } },
    modelKey: `${id}/model.json`,
    modelWeightsKey: `${id}/weights.bin`,
  });
  const evaluation = {
    runId: 'r-1',
    pipelineName: 'demo',
    datasetName: 'fashion-mnist',
    classNames,
    targets: [{ id: 'cpu', plugin: 'node-cpu' }],
    models: [model('elastic-phi-1', 'phi 1', 0.1), model('train', 'small CNN', 0.88)],
  };
  const { html, summary } = buildReport(input({ evaluation }), LIBRARY);
  const warning = 'test accuracy 0.1000 is at or near chance (0.1000 for 10 classes): the model may predict one class for every image';
  expect(summary.pareto?.models[0].warning).toBe(warning);
  expect(summary.pareto?.models[1]).not.toHaveProperty('warning');
  expect(summary.warnings).toEqual([`phi 1: ${warning}`]);
  expect(html).toContain(`<td class="num">0.1000 <span class="warning" title="${warning}">⚠</span></td>`);
  expect(html).toContain(`<p class="warning">⚠ phi 1: ${warning}.</p>`);
  expect(html).toContain('1 evaluated model at or near chance: see Models');
  expect(html).toMatch(/<tr class="(front )?warn"><td>phi 1<\/td>/);
  expect(html).toContain('<td class="num">0.8800</td>');

  // Nothing flagged: no warnings anywhere.
  const fine = buildReport(input({ evaluation: { ...evaluation, models: [model('train', 'small CNN', 0.88)] } }), LIBRARY);
  expect(fine.summary).not.toHaveProperty('warnings');
  expect(fine.html).not.toContain('class="warning"');
});

test('one-shot entropy is set against a uniform choice, a near-uniform search says so, and band trials show the random baseline', () => {
  // Two stages of 2 kernels x 2 expansions (x 1 se): 4 options per decision, uniform entropy ln 4.
  const searchSpace = { stem: { channels: 8, stride: 1 }, stages: [0, 1].map(() => ({ channels: 16, repeats: 1, stride: 1, kernels: [3, 5], expansions: [3, 6], se: [0], skip: false })) };
  const epoch = (meanEntropy: number) => ({ epoch: 0, steps: 10, meanLoss: 1, meanEntropy, validationAccuracy: 0.5, blocks: ['e3_k3_s1_c16'], choices: [0, 0], resumedFromStep: 0, checkpointKey: 'k' });
  const withSpace = (artifacts: Partial<RunArtifacts>): ReportInput => {
    const base = input(artifacts, { baselineSearch: {} });
    return { ...base, artifacts: { ...base.artifacts, pipeline: { ...base.artifacts.pipeline!, searchSpace } as unknown as Pipeline } };
  };
  const uniform = Math.log(4);
  const random = { draws: 2000, medianMs: 5, p10Ms: 4, p90Ms: 6, referenceFasterThan: 0.93 };
  const band = { config: { trials: 1, epochs: 1, band: 0.1, parallelTrials: 1 }, draws: 10, referenceMs: 4.2, random, pick: 0, trials: [] };

  const near = buildReport(withSpace({ search: { mode: 'one-shot', epochs: [epoch(0.97 * uniform)], band } }), LIBRARY);
  expect(near.html).toContain(`mean entropy (nats, uniform ${uniform.toFixed(3)})`);
  expect(near.html).toContain(`Entropy after the last epoch: ${(0.97 * uniform).toFixed(3)} nats of ${uniform.toFixed(3)} for a uniform choice (97%). The architecture distribution is still near uniform`);
  expect(near.summary.search).toMatchObject({ mode: 'one-shot', uniformEntropy: uniform, nearUniform: true, randomBaseline: random });
  expect(near.html).toContain('Against chance: 2000 nets drawn uniformly from the space have a table latency of 5.000 ms at the median (10th-90th percentile 4.000-6.000 ms); the derived net, at 4.200 ms, is faster than 93% of them.');

  const settled = buildReport(withSpace({ search: { mode: 'one-shot', epochs: [epoch(0.2)] } }), LIBRARY);
  expect(settled.html).not.toContain('still near uniform');
  expect(settled.summary.search).toMatchObject({ nearUniform: false });
});

test('the macs target is labelled a multiply-add proxy, not milliseconds', () => {
  const evaluation = {
    runId: 'r-1',
    pipelineName: 'demo',
    datasetName: 'fashion-mnist',
    classNames: [],
    targets: [{ id: 'proxy', plugin: 'macs' }, { id: 'cpu', plugin: 'node-cpu' }],
    models: [{ id: 'train', role: 'trained' as const, label: 'small CNN', params: 1e5, macs: 4e6, testAccuracy: 0.88, perClassAccuracy: [], latency: { proxy: { medianMs: 0.04, p90Ms: 0.04 }, cpu: { medianMs: 1, p90Ms: 1.2 } }, modelKey: 'm', modelWeightsKey: 'w' }],
  };
  const { html } = buildReport(input({ evaluation }, { evaluation: {} }), LIBRARY);
  expect(html).toContain('proxy median / p90 (MAC proxy, not timed: 0.01 per M MACs)');
  expect(html).toContain('cpu median / p90 (ms)');
  expect(html).toContain('(macs: a multiply-add count, not a timing)');
  const axes = chartsOf(html).map((c) => JSON.stringify(c.config));
  expect(axes.some((a) => a.includes('median latency on proxy (MAC proxy, not timed: 0.01 per M MACs)'))).toBe(true);
});
