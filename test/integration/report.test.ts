/**
 * `nas report` on a realistic run folder, opened in headless Chromium: every chart is drawn (its
 * canvas holds the data's colours, and Chart.js holds the data), the page logs no error and
 * fetches nothing. The fixture is written with the stages' own key functions and shapes; the
 * report is made by the compiled CLI, as users make it. A full-page screenshot is left in
 * .cache/test-artifacts/report.png for people to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { getJson, LocalArtifactStore, putJson, type ArtifactStore } from '../../artifacts';
import type { ScalingTrialResult } from '../../activities/scaling-trial';
import type { SupernetEpochMetrics } from '../../activities/supernet-epoch';
import type { TrialMetrics } from '../../activities/train-trial';
import { runLayout } from '../../core/run-layout';
import { resolvePipelineFile } from '../../dsl/load';
import type { StepLogEntry } from '../../engine/elastic/coordinator';
import { gridTrials, pointLabel } from '../../core/scaling-grid';
import { repoRoot } from '../../infra/paths';
import type { ReportSummary } from '../../report/summary';
import type { EvaluationSummary } from '../../report/types';
import { chooseCandidate, rankCandidates, scalingTable } from '../../workflows/compound-scaling';
import { trialScore } from '../../core/objectives';
import type { TrialSummary } from '../../workflows/multi-trial-search';
import { cleanEnv, expectExitedZero, runCli } from './support/cli';

jest.setTimeout(180_000);

const CHROMIUM = '/usr/bin/chromium';
const RUN = 'full-search-20260101-120000-beef';
const TRIALS_RUN = 'random-search-20260102-090000-cafe';
const root = mkdtempSync(join(tmpdir(), 'nas-report-'));
const artifacts = join(root, 'artifacts');
const store = new LocalArtifactStore(artifacts);
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`headless Chromium is needed at ${CHROMIUM} for this suite: install it with \`apt-get install chromium\` (infra/setup.sh does)`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM });
});
afterAll(async () => {
  await browser?.close();
  rmSync(root, { recursive: true, force: true });
});

async function writeSearch(store: ArtifactStore): Promise<void> {
  const keys = runLayout(RUN).search;
  const blocks = ['e1_k3_s1_c16', 'e3_k5_s2_c24', 'e6_k3_s1_c24', 'e6_k5_s2_c40_se0.25', 'e3_k3_s1_c40', 'e6_k7_s2_c80'];
  for (let epoch = 0; epoch < 8; epoch++) {
    const m: SupernetEpochMetrics = {
      epoch,
      steps: 188,
      meanLoss: 1.6 * Math.exp(-epoch / 3) + 0.35,
      // Flat through the 4 warm-up epochs, then falling as alpha sharpens.
      meanEntropy: epoch < 4 ? 1.386 : 1.386 - 0.21 * (epoch - 3),
      expectedLatencyMs: epoch < 4 ? 2.9 : 2.9 - 0.22 * (epoch - 3),
      validationAccuracy: 0.55 + 0.3 * (1 - Math.exp(-epoch / 2.5)),
      blocks,
      choices: [0, 3, 1, 5, 2, 4],
      resumedFromStep: epoch * 188,
      checkpointKey: keys.checkpoint((epoch + 1) * 188),
    };
    await putJson(store, keys.epoch(epoch), m);
  }
}

async function writeScaling(store: ArtifactStore): Promise<void> {
  const grid = { gridStep: 0.05, maxCoefficient: 2, costRatio: 2, tolerance: 0.1, trialBudget: 12 };
  const results: (ScalingTrialResult & { cost: number })[] = gridTrials(grid).map((p, i) => {
    // Equal cost on paper; channel and depth rounding spread the real MACs by some percent.
    const macs = Math.round(5.2e6 * p.cost * (1 + 0.12 * Math.sin(i * 2.3)));
    return {
      alpha: p.alpha,
      beta: p.beta,
      gamma: p.gamma,
      cost: p.cost,
      resolution: Math.ceil(28 * p.gamma),
      blocks: ['e6_k3_s2_c24'],
      validationAccuracy: 0.82 + 0.04 * Math.sin(i * 1.7) ** 2,
      params: Math.round(180_000 * p.alpha * p.beta ** 2),
      macs,
      latencyMs: 0.9 + macs / 8e6 + 0.2 * (p.alpha - 1),
      trainSeconds: 30 + i,
      archKey: runLayout(RUN).scaling.trialArch(pointLabel(p)),
    };
  });
  const limits = { latencyMs: 2.3 };
  const candidates = rankCandidates(results, { objective: 'accuracy-latency', limits });
  const chosen = chooseCandidate(candidates);
  // The value workflows/compound-scaling.ts hands to writeJson.
  const table = scalingTable({ objective: 'accuracy-latency', target: { id: 'laptop-cpu' }, grid, limits }, candidates, chosen);
  expect(table.candidates.some((c) => !c.eligible)).toBe(true);
  await putJson(store, runLayout(RUN).scaling.table, table);
}

/** Two segments per model, as the coordinator writes them at its checkpoints; phi-2 loses a worker. */
async function writeElastic(store: ArtifactStore, model: string, dropAt?: number): Promise<void> {
  const keys = runLayout(RUN).elastic(`elastic/${model}`);
  const entries: StepLogEntry[] = [];
  let workers = ['host-a:101'];
  for (let step = 0; step < 240; step++) {
    if (step === 40) workers = [...workers, 'host-b:202'];
    if (step === 90) workers = [...workers, 'host-c:303'];
    let dropped: string[] = [];
    if (step === dropAt) {
      dropped = ['host-b:202'];
      workers = workers.filter((w) => w !== 'host-b:202');
    }
    // dynamic-sgd: the rate moves linearly to k x base over the window after each membership change.
    const target = 0.05 * workers.length;
    const prev = entries[entries.length - 1]?.learningRate ?? 0.05;
    const learningRate = prev + Math.sign(target - prev) * Math.min(Math.abs(target - prev), 0.05 / 20);
    entries.push({
      step,
      epoch: Math.floor(step / 80),
      workers: [...workers],
      dropped,
      globalBatch: 64 * workers.length,
      learningRate,
      loss: 2.3 * Math.exp(-step / 70) + 0.3 + 0.05 * Math.sin(step),
      at: Date.UTC(2026, 0, 1, 12, 5) + step * 400,
    });
  }
  await putJson(store, keys.log(0), entries.slice(0, 100));
  await putJson(store, keys.log(100), entries.slice(100));
}

type Target = { id: string; plugin: string };

async function writeEvaluation(store: ArtifactStore, run: string, targets: [Target, Target], pipelineName: string): Promise<void> {
  const classNames = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  const perClass = (base: number) => classNames.map((_, c) => Math.min(0.99, base + 0.1 * Math.cos(c)));
  const model = (id: string, role: EvaluationSummary['models'][number]['role'], label: string, acc: number, cpu: number, wasm: number, params: number, macs: number) => ({
    id,
    role,
    label,
    params,
    macs,
    testAccuracy: acc,
    perClassAccuracy: perClass(acc),
    latency: Object.fromEntries(
      targets.map((t, i) => {
        // The macs target is analytic (msPerMegaMac 0.02): no spread between median and p90.
        const ms = t.plugin === 'macs' ? (macs / 1e6) * 0.02 : i === 0 ? cpu : wasm;
        return [t.id, { medianMs: ms, p90Ms: t.plugin === 'macs' ? ms : ms * 1.15 }];
      }),
    ),
    modelKey: `${runLayout(run).evaluation.base}/models/${id}/model.json`,
    modelWeightsKey: `${runLayout(run).evaluation.base}/models/${id}/weights.bin`,
  });
  const summary: EvaluationSummary = {
    runId: run,
    pipelineName,
    datasetName: 'fashion-mnist',
    classNames,
    targets,
    models: [
      model('elastic-phi-1', 'scaled', 'phi 1', 0.884, 1.9, 6.4, 412_000, 11_800_000),
      model('reference-small-cnn', 'reference', 'small CNN (28 px)', 0.861, 0.6, 1.1, 52_000, 2_300_000),
      model('reference-efficientnet-b0', 'reference', 'EfficientNet-B0 (28 px)', 0.902, 7.8, 31.5, 4_020_000, 24_500_000),
    ],
  };
  await putJson(store, runLayout(run).evaluation.summary, summary);
}

/** A multi-trial search as workflows/multi-trial-search.ts leaves it: trial files and the summary. */
async function writeTrials(store: ArtifactStore, run: string): Promise<void> {
  const latency = { target: { id: 'mac-count', plugin: 'macs', config: { msPerMegaMac: 0.02 } }, weight: 0.05, referenceMs: 1 };
  const summaries: TrialSummary[] = [];
  for (let trial = 0; trial < 16; trial++) {
    const m: TrialMetrics = {
      trial,
      choices: [trial % 3, (trial * 7) % 5],
      archKey: runLayout(run).search.trialArch(trial),
      blocks: [`e${3 + (trial % 4)}_k${3 + 2 * (trial % 3)}_s2_c24`, 'e6_k3_s1_c40'],
      validationAccuracy: 0.78 + 0.06 * Math.abs(Math.sin(trial * 1.3)),
      params: 90_000 + 7_000 * trial,
      macs: 3e6 + 2.5e5 * ((trial * 5) % 11),
      latencyMs: 0,
      trainSeconds: 12,
    };
    m.latencyMs = (m.macs / 1e6) * 0.02;
    await putJson(store, runLayout(run).search.trial(trial), m);
    summaries.push({ ...m, score: trialScore(m, latency) });
  }
  const best = summaries.reduce((b, t) => (t.score > b.score ? t : b));
  await putJson(store, runLayout(run).search.summary, { strategy: { plugin: 'random', config: { trials: 16 } }, best, trials: summaries });
}

interface RenderedChart {
  id: string;
  width: number;
  height: number;
  /** Pixels in saturated colours: axes, grid and text are greys, only data series are coloured. */
  coloured: number;
  datasets: { label: string; points: number }[];
}

/** What the page's own code sees (the tests compile without the DOM's types). */
interface Canvas {
  id: string;
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
interface PageGlobals {
  document: { querySelectorAll(selector: 'canvas'): Iterable<Canvas>; body: { dataset: Record<string, string | undefined> } };
  Chart: { getChart(canvas: Canvas): { data: { datasets: { label: string; data: unknown[] }[] } } | undefined };
}

/** Opens the HTML in Chromium and reads back what every chart drew, what the page logged and what it fetched. */
async function openReport(file: string, screenshot?: string) {
  const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    const problems: string[] = [];
    const requests: string[] = [];
    const url = pathToFileURL(file).href;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    await page.goto(url);
    await page.waitForSelector('body[data-charts-rendered]');
    const charts: RenderedChart[] = await page.evaluate(() => {
      const { document, Chart } = globalThis as unknown as PageGlobals;
      return [...document.querySelectorAll('canvas')].map((canvas) => {
        const chart = Chart.getChart(canvas);
        const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        let coloured = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
        }
        return {
          id: canvas.id,
          width: canvas.width,
          height: canvas.height,
          coloured,
          datasets: chart?.data.datasets.map((d) => ({ label: d.label, points: d.data.length })) ?? [],
        };
      });
    });
    const counts = await page.evaluate(() => {
      const { dataset } = (globalThis as unknown as PageGlobals).document.body;
      return [dataset.charts, dataset.chartsRendered];
    });
    const omittedSections = await page.locator('section .omitted').allTextContents();
    if (screenshot) {
      mkdirSync(join(screenshot, '..'), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
    }
    return { charts, counts, omittedSections, problems, requests };
  } finally {
    await page.close();
  }
}

function expectAllDrawn(charts: RenderedChart[]): void {
  for (const c of charts) {
    expect({ id: c.id, drawn: c.width > 100 && c.height > 100 && c.coloured > 200 }).toEqual({ id: c.id, drawn: true });
    expect(c.datasets.length).toBeGreaterThan(0);
    for (const d of c.datasets) expect({ chart: c.id, dataset: d.label, empty: d.points === 0 }).toEqual({ chart: c.id, dataset: d.label, empty: false });
  }
}

test('nas report: every chart drawn in Chromium, no console errors, no network', async () => {
  const pipeline = resolvePipelineFile(join(repoRoot(), 'examples', 'full-search.yaml')).pipeline;
  await putJson(store, runLayout(RUN).pipeline, pipeline);
  await writeSearch(store);
  await writeScaling(store);
  await writeElastic(store, 'phi-1');
  await writeElastic(store, 'phi-2', 150);
  await writeEvaluation(
    store,
    RUN,
    [
      { id: 'laptop-cpu', plugin: 'node-cpu' },
      { id: 'browser', plugin: 'wasm' },
    ],
    'full-search',
  );

  const out = join(root, 'out', 'report.html');
  const cli = await runCli(['report', RUN, '--artifacts', artifacts, '--no-temporal', '--out', out], cleanEnv(), 60_000);
  expect(cli.stderr).toBe('');
  expectExitedZero(cli);
  expect(cli.stdout).toContain(out);
  const summary = JSON.parse(readFileSync(join(root, 'out', 'report.json'), 'utf8')) as ReportSummary;
  expect(summary.omitted).toEqual([]);
  expect(summary.search?.mode).toBe('one-shot');
  expect(summary.pareto?.targets.map((t) => t.id)).toEqual(['laptop-cpu', 'browser']);
  // small CNN is fastest on both; phi 1 beats EfficientNet-B0 on latency, not accuracy: all three are on the front.
  expect(summary.pareto?.targets[0].front).toEqual(['reference-small-cnn', 'elastic-phi-1', 'reference-efficientnet-b0']);
  expect(summary.elastic?.map((e) => [e.model, e.workersMax, e.drops])).toEqual([
    ['phi-1', 3, 0],
    ['phi-2', 3, 1],
  ]);
  expect(await getJson<ReportSummary>(store, runLayout(RUN).report.json)).toEqual(summary);
  expect(new TextDecoder().decode(await store.get(runLayout(RUN).report.html))).toBe(readFileSync(out, 'utf8'));

  // A second report in the same folder keeps the first one's JSON: each is named after its HTML file.
  const second = await runCli(['report', RUN, '--artifacts', artifacts, '--no-temporal', '--out', join(root, 'out', 'weekly.html')], cleanEnv(), 60_000);
  expectExitedZero(second);
  expect(JSON.parse(readFileSync(join(root, 'out', 'weekly.json'), 'utf8'))).toEqual({ ...summary, generatedAt: expect.any(String) });
  expect(JSON.parse(readFileSync(join(root, 'out', 'report.json'), 'utf8'))).toEqual(summary);

  const page = await openReport(out, join(repoRoot(), '.cache', 'test-artifacts', 'report.png'));
  expect(page.charts.map((c) => c.id)).toEqual(['chart-search', 'chart-pareto-0', 'chart-pareto-1', 'chart-scaling', 'chart-elastic-0', 'chart-elastic-1']);
  expectAllDrawn(page.charts);
  const byId = new Map(page.charts.map((c) => [c.id, c.datasets]));
  expect(byId.get('chart-pareto-0')).toContainEqual({ label: 'reference models', points: 2 });
  expect(byId.get('chart-scaling')).toContainEqual({ label: 'chosen', points: 1 });
  expect(byId.get('chart-elastic-1')).toContainEqual({ label: 'worker dropped', points: 1 });
  expect(page.counts).toEqual(['6', '6']);
  expect(page.omittedSections).toEqual([]);
  expect(page.problems).toEqual([]);
  expect(page.requests).toEqual([]);
});

test('a multi-trial run without scaling or elastic training: trials on the search target\'s front, the rest noted', async () => {
  const pipeline = resolvePipelineFile(join(repoRoot(), 'examples', 'random-search.yaml')).pipeline;
  await putJson(store, runLayout(TRIALS_RUN).pipeline, pipeline);
  // The search measures its trials on the only target declared (examples/random-search.yaml: mac-count).
  expect(Object.keys(pipeline.hardwareTargets)).toEqual(['mac-count']);
  await writeTrials(store, TRIALS_RUN);
  await writeEvaluation(
    store,
    TRIALS_RUN,
    [
      { id: 'browser', plugin: 'wasm' },
      { id: 'mac-count', plugin: 'macs' },
    ],
    pipeline.name,
  );

  const out = join(root, 'trials', 'nas-report.html');
  const cli = await runCli(['report', TRIALS_RUN, '--artifacts', artifacts, '--no-temporal', '--out', out], cleanEnv(), 60_000);
  expect(cli.stderr).toBe('');
  expectExitedZero(cli);
  const page = await openReport(out, join(repoRoot(), '.cache', 'test-artifacts', 'report-multi-trial.png'));
  expect(page.charts.map((c) => c.id)).toEqual(['chart-search', 'chart-pareto-0', 'chart-pareto-1']);
  expectAllDrawn(page.charts);
  // The trials' latency was measured on the search's target only, so only that chart shows them.
  const trialsOn = page.charts.map((c) => c.datasets.find((d) => d.label.startsWith('search trials'))?.points);
  expect(trialsOn).toEqual([undefined, undefined, 16]);
  expect(page.charts[0].datasets).toContainEqual({ label: 'best trial', points: 1 });
  expect(page.omittedSections).toHaveLength(2);
  expect(page.omittedSections.join(' ')).toMatch(/the pipeline has no stages\.compoundScaling.*the pipeline has no stages\.elasticTraining/);
  expect(page.problems).toEqual([]);
  expect(page.requests).toEqual([]);
});
