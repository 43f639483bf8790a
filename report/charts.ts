/**
 * Chart.js configurations, one function per chart. They are plain data (no callbacks), so the page
 * carries them as JSON and the small script in page.ts hands each to `new Chart`. Point objects may
 * carry `label` (shown in the tooltip) and `mark` (drawn next to the point by that script's plugin).
 */
import type { ChartConfiguration, ChartDataset, ScaleOptions } from 'chart.js';
import type { EvaluatedModel, LatencyCalibration, ScalingTable, StepLogEntry, SupernetEpochMetrics, TrialRecord } from './types';

export interface ChartSpec {
  /** The canvas element's id. */
  id: string;
  config: ChartConfiguration<'line' | 'scatter', Point[]>;
}

export interface Point {
  x: number;
  y: number;
  label?: string;
  mark?: string;
}

type Dataset = ChartDataset<'line' | 'scatter', Point[]>;
type Axis = ScaleOptions<'linear'>;

/** Tableau 10: distinguishable, and still apart for the common colour-vision deficiencies. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const GREY = '#9aa0a6';

function axis(title: string, extra: Axis = {}): Axis {
  return { type: 'linear', title: { display: true, text: title }, ...extra };
}

function config(type: 'line' | 'scatter', datasets: Dataset[], scales: Record<string, Axis>, title: string): ChartSpec['config'] {
  return {
    type,
    data: { datasets },
    options: {
      // Drawn once, at once: a report is read, not watched, and a screenshot must see the final frame.
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      // Points are {x, y} already; Chart.js need not parse them.
      parsing: false,
      interaction: { mode: 'nearest', intersect: false },
      plugins: {
        title: { display: true, text: title },
        // Scatter charts tell their series apart by marker shape (reference models are triangles).
        legend: { position: 'bottom', labels: { usePointStyle: type === 'scatter' } },
      },
      scales,
    },
  };
}

function line(label: string, data: Point[], color: string, yAxisID: string, extra: Partial<Dataset> = {}): Dataset {
  return { type: 'line', label, data, yAxisID, borderColor: color, backgroundColor: color, pointRadius: 2, borderWidth: 2, ...extra } as Dataset;
}

function points(label: string, data: Point[], color: string, extra: Partial<Dataset> = {}): Dataset {
  return { type: 'scatter', label, data, borderColor: color, backgroundColor: color, pointRadius: 5, pointHoverRadius: 7, ...extra } as Dataset;
}

/** One-shot search: validation accuracy of the argmax network, path entropy and E[latency] per epoch. */
export function searchEpochsChart(id: string, epochs: SupernetEpochMetrics[]): ChartSpec {
  const at = (f: (e: SupernetEpochMetrics) => number | undefined) =>
    epochs.flatMap((e) => {
      const y = f(e);
      return y === undefined || !Number.isFinite(y) ? [] : [{ x: e.epoch + 1, y }];
    });
  const latency = at((e) => e.expectedLatencyMs);
  const datasets = [
    line('validation accuracy (argmax network)', at((e) => e.validationAccuracy), PALETTE[0], 'accuracy'),
    line('mean path entropy (nats)', at((e) => e.meanEntropy), PALETTE[1], 'entropy'),
  ];
  const scales: Record<string, Axis> = {
    x: axis('epoch', { ticks: { precision: 0 } }),
    accuracy: axis('validation accuracy', { position: 'left' }),
    entropy: axis('entropy (nats)', { position: 'right', grid: { drawOnChartArea: false }, beginAtZero: true }),
  };
  if (latency.length > 0) {
    datasets.push(line('expected latency (ms)', latency, PALETTE[2], 'latency', { borderDash: [6, 3] }));
    scales.latency = axis('E[latency] (ms)', { position: 'right', grid: { drawOnChartArea: false } });
  }
  return { id, config: config('line', datasets, scales, 'One-shot search, per epoch') };
}

/** Multi-trial search: each trial's validation accuracy and score in order, latency on its own axis. */
export function trialsChart(id: string, trials: TrialRecord[], best: number | undefined): ChartSpec {
  const label = (t: TrialRecord) => `trial ${t.trial}: ${t.blocks.join(' ')}`;
  const datasets: Dataset[] = [points('validation accuracy', trials.map((t) => ({ x: t.trial, y: t.validationAccuracy, label: label(t) })), PALETTE[0], { yAxisID: 'accuracy' })];
  const scored = trials.filter((t) => t.score !== undefined);
  if (scored.length > 0) {
    datasets.push(points('score', scored.map((t) => ({ x: t.trial, y: t.score!, label: label(t) })), PALETTE[4], { yAxisID: 'accuracy', pointStyle: 'rect' }));
    let bestSoFar = -Infinity;
    const running = scored.map((t) => ({ x: t.trial, y: (bestSoFar = Math.max(bestSoFar, t.score!)) }));
    datasets.push(line('best score so far', running, PALETTE[4], 'accuracy', { pointRadius: 0, pointStyle: 'line', stepped: 'after', borderWidth: 1.5 }));
  }
  const timed = trials.filter((t) => t.latencyMs !== undefined);
  const scales: Record<string, Axis> = { x: axis('trial', { ticks: { precision: 0 } }), accuracy: axis('accuracy / score', { position: 'left' }) };
  if (timed.length > 0) {
    datasets.push(points('latency (ms)', timed.map((t) => ({ x: t.trial, y: t.latencyMs!, label: label(t) })), PALETTE[2], { yAxisID: 'latency', pointStyle: 'triangle' }));
    scales.latency = axis('latency (ms)', { position: 'right', grid: { drawOnChartArea: false } });
  }
  const bestTrial = trials.find((t) => t.trial === best);
  if (bestTrial) {
    datasets.push(
      points('best trial', [{ x: bestTrial.trial, y: bestTrial.validationAccuracy, label: label(bestTrial), mark: `best: trial ${bestTrial.trial}` }], PALETTE[3], {
        yAxisID: 'accuracy',
        pointStyle: 'star',
        pointRadius: 10,
        borderWidth: 2,
      }),
    );
  }
  return { id, config: config('scatter', datasets, scales, 'Multi-trial search, per trial') };
}

export interface ParetoChartInput {
  targetId: string;
  models: EvaluatedModel[];
  /** Indices into `models` of the front, fastest first. */
  front: number[];
  /** Multi-trial search trials measured on this target (validation accuracy: the test split stays unseen). */
  trials?: TrialRecord[];
  /** What the target's numbers are: `ms`, or a proxy's own unit (report/units.ts). */
  unit?: string;
}

const ROLE_COLOR: Record<EvaluatedModel['role'], string> = { trained: PALETTE[0], searched: PALETTE[1], scaled: PALETTE[4], reference: PALETTE[2] };

/** Test accuracy against median latency on one target; reference models as labelled triangles. */
export function paretoChart(id: string, input: ParetoChartInput): ChartSpec {
  const { targetId, models, front } = input;
  const at = (m: EvaluatedModel): Point | undefined => {
    const l = m.latency[targetId];
    return l && Number.isFinite(l.medianMs) ? { x: l.medianMs, y: m.testAccuracy, label: `${m.label} (${m.role})` } : undefined;
  };
  const datasets: Dataset[] = [];
  const frontPoints = front.flatMap((i) => at(models[i]) ?? []);
  if (frontPoints.length > 0) {
    datasets.push(line('Pareto front', frontPoints, '#555', 'y', { pointRadius: 0, pointStyle: 'line', borderWidth: 1.5, borderDash: [4, 4], stepped: 'before' }));
  }
  for (const role of ['trained', 'searched', 'scaled'] as const) {
    const data = models.filter((m) => m.role === role).flatMap((m) => at(m) ?? []);
    if (data.length > 0) datasets.push(points(`${role} models`, data.map((p) => ({ ...p, mark: p.label!.replace(/ \(.*\)$/, '') })), ROLE_COLOR[role]));
  }
  const refs = models.filter((m) => m.role === 'reference').flatMap((m) => {
    const p = at(m);
    return p ? [{ ...p, mark: m.label }] : [];
  });
  if (refs.length > 0) datasets.push(points('reference models', refs, ROLE_COLOR.reference, { pointStyle: 'triangle', pointRadius: 7 }));
  if (input.trials && input.trials.length > 0) {
    const data = input.trials.filter((t) => t.latencyMs !== undefined).map((t) => ({ x: t.latencyMs!, y: t.validationAccuracy, label: `trial ${t.trial}: ${t.blocks.join(' ')}` }));
    datasets.push(points('search trials (validation accuracy)', data, GREY, { pointRadius: 3, pointStyle: 'crossRot', borderWidth: 1 }));
  }
  return {
    id,
    config: config('scatter', datasets, { x: axis(`median latency on ${targetId} (${input.unit ?? 'ms'})`, { grace: '5%' }), y: axis('accuracy', { grace: '10%' }) }, `Accuracy versus latency on ${targetId}`),
  };
}

/**
 * The latency model check: each net timed whole, its measured latency against the table sum and
 * the calibrated predictor's held-out estimate. Both axes span the same range, so the y = x line
 * is the diagonal and a point's distance above it is the overestimate.
 */
export function latencyCheckChart(id: string, targetId: string, nets: LatencyCalibration['nets']): ChartSpec {
  const label = (n: LatencyCalibration['nets'][number], i: number) => `net ${i + 1}: ${n.features.ops} ops, ${n.features.mmacs.toFixed(2)} MMAC`;
  const table = nets.map((n, i) => ({ x: n.measuredMs, y: n.features.tableMs, label: label(n, i) }));
  const heldOut = nets.flatMap((n, i) => (n.heldOutMs === undefined || !Number.isFinite(n.heldOutMs) ? [] : [{ x: n.measuredMs, y: n.heldOutMs, label: label(n, i) }]));
  const datasets: Dataset[] = [points('table sum', table, PALETTE[0], { pointRadius: 4 })];
  if (heldOut.length > 0) datasets.push(points('calibrated predictor (held out)', heldOut, PALETTE[1], { pointStyle: 'triangle', pointRadius: 5 }));
  const values = [...table, ...heldOut].flatMap((p) => [p.x, p.y]).filter(Number.isFinite);
  const range: Axis = {};
  if (values.length > 0) {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    datasets.unshift(line('y = x (exact)', [{ x: lo, y: lo }, { x: hi, y: hi }], '#555', 'y', { pointRadius: 0, pointStyle: 'line', borderWidth: 1.5, borderDash: [4, 4] }));
    Object.assign(range, { suggestedMin: lo, suggestedMax: hi });
  }
  return {
    id,
    config: config(
      'scatter',
      datasets,
      { x: axis(`measured latency on ${targetId} (ms)`, { grace: '5%', ...range }), y: axis('predicted latency (ms)', { grace: '5%', ...range }) },
      `Predicted versus measured latency on ${targetId}`,
    ),
  };
}

/** The scaling grid: MACs against validation accuracy, the chosen point highlighted. */
export function scalingChart(id: string, table: ScalingTable, chosen: number | undefined): ChartSpec {
  const point = (c: ScalingTable['candidates'][number]) => ({
    x: c.macs / 1e6,
    y: c.validationAccuracy,
    label: `alpha ${c.alpha}, beta ${c.beta}, gamma ${c.gamma}`,
  });
  const eligible = table.candidates.filter((c, i) => c.eligible && i !== chosen);
  const ineligible = table.candidates.filter((c) => !c.eligible);
  const datasets: Dataset[] = [points('grid points', eligible.map(point), PALETTE[0])];
  if (ineligible.length > 0) datasets.push(points('over a limit', ineligible.map(point), GREY, { pointStyle: 'crossRot', pointRadius: 6, borderWidth: 2 }));
  if (chosen !== undefined) {
    const c = table.candidates[chosen];
    datasets.push(points('chosen', [{ ...point(c), mark: `chosen: ${c.alpha}/${c.beta}/${c.gamma}` }], PALETTE[2], { pointStyle: 'star', pointRadius: 12, borderWidth: 3 }));
  }
  return { id, config: config('scatter', datasets, { x: axis('MACs (millions)', { grace: '5%' }), y: axis('validation accuracy', { grace: '10%' }) }, 'Compound-scaling grid at phi = 1') };
}

/** Elastic training: workers present and learning rate (two axes) and loss, per step. */
export function elasticChart(id: string, model: string, steps: StepLogEntry[]): ChartSpec {
  const series = (f: (s: StepLogEntry) => number) => steps.map((s) => ({ x: s.step, y: f(s) }));
  const drops = steps.filter((s) => s.dropped.length > 0).map((s) => ({ x: s.step, y: s.workers.length, label: `dropped ${s.dropped.join(', ')}` }));
  const datasets: Dataset[] = [
    line('workers', series((s) => s.workers.length), PALETTE[0], 'workers', { stepped: 'after', pointRadius: 0, fill: false }),
    line('learning rate', series((s) => s.learningRate), PALETTE[1], 'rate', { pointRadius: 0 }),
    line('loss', series((s) => s.loss), PALETTE[3], 'loss', { pointRadius: 0, borderWidth: 1 }),
  ];
  if (drops.length > 0) datasets.push(points('worker dropped', drops, PALETTE[2], { yAxisID: 'workers', pointStyle: 'crossRot', pointRadius: 7, borderWidth: 2 }));
  const maxWorkers = Math.max(1, ...steps.map((s) => s.workers.length));
  return {
    id,
    config: config(
      'line',
      datasets,
      {
        x: axis('step', { bounds: 'data', ticks: { precision: 0 } }),
        workers: axis('workers', { position: 'left', min: 0, suggestedMax: maxWorkers + 1, ticks: { precision: 0 } }),
        rate: axis('learning rate', { position: 'right', grid: { drawOnChartArea: false }, beginAtZero: true }),
        loss: axis('loss', { position: 'right', grid: { drawOnChartArea: false } }),
      },
      `Elastic training of ${model}`,
    ),
  };
}
