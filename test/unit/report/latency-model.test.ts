/**
 * The latency model check in the report: a one-shot search on a timed target leaves
 * `search/latency-calibration.json`, and the page shows its check numbers, the fitted predictor,
 * which prediction the search priced with and the predicted-against-measured chart; a run
 * without the file has no such section.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore, putJson } from '../../../artifacts';
import { CALIBRATION_FORMAT } from '../../../core/artifact-files';
import { runLayout } from '../../../core/run-layout';
import { buildReport } from '../../../report/build';
import type { ChartSpec } from '../../../report/charts';
import { loadRunArtifacts } from '../../../report/load';
import type { LatencyCalibration, ReportInput, SupernetEpochMetrics } from '../../../report/types';

const LIBRARY = '/* chart library */';
const RUN = 'r-1';

function chartsOf(html: string): ChartSpec[] {
  const json = /<script type="application\/json" id="report-charts">(.*?)<\/script>/s.exec(html)?.[1];
  return JSON.parse(json!) as ChartSpec[];
}

const epoch: SupernetEpochMetrics = { epoch: 0, steps: 10, meanLoss: 1, meanEntropy: 0.9, validationAccuracy: 0.5, blocks: ['e3_k3_s1_c16'], choices: [0], resumedFromStep: 0, checkpointKey: 'k' };

/** Ten nets: the table sum under-prices them all (a fixed overhead it does not know of). */
const nets: LatencyCalibration['nets'] = Array.from({ length: 10 }, (_, i) => {
  const tableMs = 2 + 0.5 * i;
  return { choices: [i % 3, i % 2], features: { tableMs, ops: 20 + i, mmacs: 3 + i }, measuredMs: 1.2 + 0.9 * tableMs, p90Ms: 1.3 + 0.9 * tableMs, heldOutMs: 1.25 + 0.9 * tableMs };
});

const calibration: LatencyCalibration = {
  format: CALIBRATION_FORMAT,
  target: 'node-cpu',
  targetId: 'cpu',
  tableKey: 'latency-tables/node-cpu/abc.json',
  seed: 7,
  netsWanted: 10,
  nets,
  predictor: { intercept: 1.234, perTableMs: 0.8, perOp: -0.12, perMmac: 0.004 },
  check: {
    plain: { nets: 10, spearman: 0.912, within10: 0.3, medianError: 0.183, meanBias: -0.152 },
    predictor: { nets: 10, spearman: 0.945, within10: 0.8, medianError: 0.042, meanBias: 0.006 },
  },
  use: 'predictor',
};

function input(latencyCalibration?: LatencyCalibration): ReportInput {
  return {
    artifacts: { runId: RUN, location: 'file:///tmp/artifacts', elastic: [], search: { mode: 'one-shot', epochs: [epoch], latencyCalibration } },
    timingNote: 'Stage times not read: --no-temporal.',
    generatedAt: '2026-01-01T00:00:00.000Z',
  };
}

test('a calibrated one-shot search: the check numbers of both predictions, the fitted predictor, what the search used, and the chart', () => {
  const { html, summary } = buildReport(input(calibration), LIBRARY);
  expect(html).toContain('<section id="latency-model"><h2>Latency model: table against measured</h2>');
  // Right after the search it priced, before the evaluation.
  expect(html.indexOf('<section id="search">')).toBeLessThan(html.indexOf('<section id="latency-model">'));
  expect(html.indexOf('<section id="latency-model">')).toBeLessThan(html.indexOf('<section id="pareto">'));
  expect(html).toContain('On target cpu (node-cpu), 10 nets drawn from the search space were timed whole and compared with two predictions');
  expect(html).toContain('<th>prediction</th><th class="num">Spearman</th><th class="num">within ±10%</th><th class="num">median error</th><th class="num">bias</th>');
  expect(html).toContain('<tr><td>table sum</td><td class="num">0.912</td><td class="num">30%</td><td class="num">18.3%</td><td class="num">-15.2%</td></tr>');
  expect(html).toContain('<tr class="chosen"><td>calibrated predictor, held out</td><td class="num">0.945</td><td class="num">80%</td><td class="num">4.2%</td><td class="num">+0.6%</td></tr>');
  expect(html).toContain('Fitted on all 10 nets: measured ≈ 1.234 ms + 0.8 × table sum − 0.12 ms per op + 0.004 ms per MMAC.');
  expect(html).toContain("The search priced nets with the calibrated predictor: the predictor's held-out median error, 4.2%, is below the table sum's, 18.3%.");

  const chart = chartsOf(html).find((c) => c.id === 'chart-latency-model')!;
  expect(html).toContain('<canvas id="chart-latency-model"');
  expect(chart.config.type).toBe('scatter');
  const [exact, table, heldOut] = chart.config.data.datasets;
  expect(chart.config.data.datasets.map((d) => d.label)).toEqual(['y = x (exact)', 'table sum', 'calibrated predictor (held out)']);
  // Measured on x, predicted on y; the line spans every value on both axes.
  expect(table.data[0]).toMatchObject({ x: nets[0].measuredMs, y: 2, label: 'net 1: 20 ops, 3.00 MMAC' });
  expect(heldOut.data.map((p) => p.y)).toEqual(nets.map((n) => n.heldOutMs));
  expect(exact.data).toEqual([
    { x: 2, y: 2 },
    { x: nets[9].heldOutMs, y: nets[9].heldOutMs },
  ]);
  const scales = chart.config.options!.scales as Record<string, { title: { text: string }; suggestedMin: number; suggestedMax: number }>;
  expect(scales.x.title.text).toBe('measured latency on cpu (ms)');
  expect(scales.y.title.text).toBe('predicted latency (ms)');
  expect([scales.x.suggestedMin, scales.x.suggestedMax]).toEqual([scales.y.suggestedMin, scales.y.suggestedMax]);

  expect(summary.search).toMatchObject({ mode: 'one-shot', latencyModel: { targetId: 'cpu', target: 'node-cpu', nets: 10, use: 'predictor', predictor: calibration.predictor, check: calibration.check } });
});

test('the plain sum kept, and a Spearman that could not be computed, read as such', () => {
  const plainKept: LatencyCalibration = {
    ...calibration,
    check: { plain: { ...calibration.check!.plain, medianError: 0.03 }, predictor: { ...calibration.check!.predictor, spearman: Number.NaN } },
    use: 'plain',
  };
  const { html } = buildReport(input(plainKept), LIBRARY);
  expect(html).toContain('<tr class="chosen"><td>table sum</td>');
  expect(html).toContain('<tr><td>calibrated predictor, held out</td><td class="num">–</td>');
  expect(html).toContain("The search priced nets with the plain table sum: the predictor's held-out median error, 4.2%, is not below the table sum's, 3%.");
});

test('no calibration file: no latency model section, no chart, nothing in report.json', () => {
  const { html, summary } = buildReport(input(), LIBRARY);
  expect(html).not.toContain('latency-model');
  expect(html).not.toContain('Latency model');
  expect(chartsOf(html).map((c) => c.id)).toEqual(['chart-search']);
  expect(summary.search).not.toHaveProperty('latencyModel');
  // Not a stage of its own: its absence is not an omission to explain.
  expect(summary.omitted.map((o) => o.section)).toEqual(['pareto', 'scaling', 'elastic']);
});

describe('loading a run', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });
  async function runWith(file?: unknown): Promise<LocalArtifactStore> {
    const root = mkdtempSync(join(tmpdir(), 'nas-report-latency-'));
    roots.push(root);
    const store = new LocalArtifactStore(root);
    await putJson(store, runLayout(RUN).search.epoch(0), epoch);
    if (file !== undefined) await putJson(store, runLayout(RUN).search.latencyCalibration, file);
    return store;
  }

  test('a one-shot run reads search/latency-calibration.json (a NaN Spearman stored as null comes back NaN)', async () => {
    const stored = { ...calibration, check: { ...calibration.check!, plain: { ...calibration.check!.plain, spearman: Number.NaN } } };
    const a = await loadRunArtifacts(await runWith(stored), RUN);
    expect(a.search?.mode).toBe('one-shot');
    const loaded = a.search?.mode === 'one-shot' ? a.search.latencyCalibration : undefined;
    expect(loaded).toEqual(stored);
    expect(loaded?.check?.plain.spearman).toBeNaN();
    expect(buildReport({ artifacts: a, generatedAt: '2026-01-01T00:00:00.000Z' }, LIBRARY).html).toContain('<section id="latency-model">');
  });

  test('without the file the search has no calibration', async () => {
    const a = await loadRunArtifacts(await runWith(), RUN);
    expect(a.search).toMatchObject({ mode: 'one-shot' });
    expect(a.search?.mode === 'one-shot' && a.search.latencyCalibration).toBeUndefined();
  });

  test('a file that is not a calibration fails the report with its key', async () => {
    const store = await runWith({ ...calibration, nets: [{ ...nets[0], measuredMs: 'fast' }] });
    await expect(loadRunArtifacts(store, RUN)).rejects.toThrow(/^runs\/r-1\/search\/latency-calibration\.json is not .*: nets\.0\.measuredMs: expected number, received string/);
  });
});
