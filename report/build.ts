/**
 * The report as one HTML string, from the run's loaded artifacts: a header (run, pipeline, stage
 * times), then one section per stage that left artifacts, each a chart and the table behind it.
 * Pure: no I/O, no clock (the time of generation comes in), so the same input gives the same page.
 */
import { runLayout } from '../core/run-layout';
import type { Pipeline } from '../dsl/pipeline';
import { budgetSentences } from './budgets';
import { elasticChart, latencyCheckChart, paretoChart, scalingChart, searchEpochsChart, trialsChart, type ChartSpec } from './charts';
import { entropySentence, maxMeanEntropy } from './entropy';
import { fmt, html, Html, table, type Column } from './html';
import { renderPage } from './page';
import { isProxyTarget, latencyUnit } from './units';
import { chosenIndex, elasticDigest, frontsByTarget, modelWarnings, summarize, type ReportSummary, type SectionId } from './summary';
import type { BandTrialsSummary, EvaluatedModel, EvaluationSummary, LatencyCalibration, ReportInput, RunArtifacts, ScalingTable, ScalingTablePoint, SupernetEpochMetrics, TrialRecord } from './types';

export interface BuiltReport {
  html: string;
  summary: ReportSummary;
}

interface Section {
  body: Html;
  charts: ChartSpec[];
}

const chartBox = (id: string) => html`<div class="chart"><canvas id="${id}" role="img"></canvas></div>`;

function facts(rows: [string, Html | string | undefined][]): Html {
  const items = rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`);
  return html`<dl class="facts">${items}</dl>`;
}

/** Each plugin as `name version (source, sha256 …)`: what the run was made with. */
function pluginList(plugins: RunArtifacts['plugins']): Html | undefined {
  if (!plugins?.length) return undefined;
  const items = plugins.map((p) => html`<li>${p.name} ${p.version} <span class="omitted">(${p.source}${p.sha256 ? `, sha256 ${p.sha256.slice(0, 12)}` : ''})</span></li>`);
  return html`<ul class="plugins">${items}</ul>`;
}

function header(input: ReportInput, s: ReportSummary): Html {
  const t = input.timing;
  const declared = Object.keys(input.artifacts.pipeline?.stages ?? {});
  const stageRows = s.stages.map((st) => ({ ...st }));
  const total = stageRows.reduce((n, st) => n + st.seconds, 0);
  const stageTable =
    stageRows.length > 0
      ? table<{ stage: string; seconds: number }>(
          [
            { header: 'stage', cell: (r) => r.stage },
            { header: 'wall time', cell: (r) => fmt.seconds(r.seconds), numeric: true },
          ],
          [...stageRows, { stage: 'all stages', seconds: total }],
        )
      : undefined;
  return html`<header>
<h1>Run ${s.runId}</h1>
${facts([
  ['pipeline', s.pipelineName],
  ['data set', s.datasetName],
  ['stages declared', declared.length ? declared.join(', ') : undefined],
  ['status', t ? `${t.status.replace(/_/g, ' ')}${t.current ? (t.status === 'running' ? ` (stage ${t.current} running)` : ` (stopped in stage ${t.current})`) : ''}` : undefined],
  ['started', t?.startTime],
  ['ended', t?.closeTime],
  ['duration', t ? fmt.seconds(t.durationSeconds) + (t.closeTime ? '' : ' so far') : undefined],
  ['plugins', pluginList(input.artifacts.plugins)],
  ['artifacts', html`<code>${s.artifactLocation}/${runLayout(s.runId).root}</code>`],
  ['generated', s.generatedAt],
  ['warnings', s.warnings ? html`<span class="warning">${s.warnings.length} evaluated model${s.warnings.length === 1 ? '' : 's'} at or near chance: see Models</span>` : undefined],
])}
<h3>Stage wall times</h3>
${stageTable ?? html`<p class="omitted">${input.timingNote ?? 'No stage has completed yet.'}</p>`}
</header>`;
}

function searchSection(search: NonNullable<RunArtifacts['search']>, pipeline: Pipeline | undefined): Section {
  if (search.mode === 'one-shot') return oneShotSection(search.epochs, search.band, pipeline);
  const best = search.trials.find((t) => t.trial === search.best);
  const intro = html`<p>${search.strategy ?? 'multi-trial'} search: ${search.trials.length} trials${search.finished ? '' : ' so far (still running: scores appear when it ends)'}${
    best ? `; best trial ${best.trial}, validation accuracy ${fmt.accuracy(best.validationAccuracy)}${best.latencyMs !== undefined ? `, ${fmt.ms(best.latencyMs)} ms` : ''}` : ''
  }${search.targetId ? `; latency measured on ${search.targetId}` : ''}.</p>${search.budgets ? html`<p>${budgetSentences(search.budgets).join('. ')}.</p>` : ''}`;
  const budgeted = search.trials.some((t) => t.epochs !== undefined);
  const columns: Column<TrialRecord>[] = [
    { header: 'trial', cell: (t) => t.trial, numeric: true },
    ...(budgeted ? [{ header: 'epochs', cell: (t: TrialRecord) => t.epochs ?? '–', numeric: true }] : []),
    { header: 'validation accuracy', cell: (t) => fmt.accuracy(t.validationAccuracy), numeric: true },
    { header: 'latency (ms)', cell: (t) => fmt.ms(t.latencyMs), numeric: true },
    { header: 'MACs', cell: (t) => fmt.millions(t.macs), numeric: true },
    { header: 'params', cell: (t) => fmt.millions(t.params), numeric: true },
    { header: 'score', cell: (t) => (t.score === undefined ? '–' : fmt.accuracy(t.score)), numeric: true },
    { header: 'blocks', cell: (t) => html`<code>${t.blocks.join(' ')}</code>` },
  ];
  return {
    body: html`${intro}${chartBox('chart-search')}<div class="scroll">${table(columns, search.trials, (t) => (t.trial === search.best ? 'chosen' : undefined))}</div>`,
    charts: [trialsChart('chart-search', search.trials, search.best)],
  };
}

function oneShotSection(epochs: SupernetEpochMetrics[], band: BandTrialsSummary | undefined, pipeline: Pipeline | undefined): Section {
  const last = epochs[epochs.length - 1];
  const max = pipeline?.searchSpace ? maxMeanEntropy(pipeline.searchSpace) : undefined;
  const settled = max === undefined ? undefined : entropySentence(last.meanEntropy, max);
  const columns: Column<SupernetEpochMetrics>[] = [
    { header: 'epoch', cell: (e) => e.epoch + 1, numeric: true },
    { header: 'steps', cell: (e) => e.steps, numeric: true },
    { header: 'mean loss', cell: (e) => fmt.number(e.meanLoss), numeric: true },
    { header: max === undefined ? 'mean entropy (nats)' : `mean entropy (nats, uniform ${fmt.number(max, 3)})`, cell: (e) => fmt.number(e.meanEntropy, 3), numeric: true },
    { header: 'E[latency] (ms)', cell: (e) => fmt.ms(e.expectedLatencyMs), numeric: true },
    { header: 'validation accuracy', cell: (e) => fmt.accuracy(e.validationAccuracy), numeric: true },
  ];
  return {
    body: html`<p>One-shot (ProxylessNAS) search: ${epochs.length} epoch${epochs.length === 1 ? '' : 's'}. Entropy falls as the architecture distribution settles; accuracy is the current argmax network's on a validation sample.</p>
${chartBox('chart-search')}
${table(columns, epochs)}
${settled ? html`<p class="${settled.nearUniform ? 'warning' : ''}">${settled.text}</p>` : ''}
<p>Architecture after epoch ${last.epoch + 1}: <code>${last.blocks.join(' ')}</code></p>${band ? bandTrialsPart(band) : ''}`,
    charts: [searchEpochsChart('chart-search', epochs)],
  };
}

function bandTrialsPart(band: BandTrialsSummary): Html {
  const halved = band.config.halving !== undefined;
  const firstRung = band.trials.filter((t) => (t.epochs ?? band.config.epochs) === band.config.epochs);
  const columns: Column<BandTrialsSummary['trials'][number]>[] = [
    { header: 'trial', cell: (t) => (t.trial === 0 ? '0 (derived)' : t.trial), numeric: true },
    ...(halved ? [{ header: 'epochs', cell: (t: BandTrialsSummary['trials'][number]) => t.epochs ?? band.config.epochs, numeric: true }] : []),
    { header: 'validation accuracy', cell: (t) => fmt.accuracy(t.validationAccuracy), numeric: true },
    { header: 'table latency (ms)', cell: (t) => fmt.ms(t.tableMs), numeric: true },
    { header: 'MACs', cell: (t) => fmt.millions(t.macs), numeric: true },
    { header: 'params', cell: (t) => fmt.millions(t.params), numeric: true },
    { header: 'blocks', cell: (t) => html`<code>${t.blocks.join(' ')}</code>` },
  ];
  return html`<h3>Band trials</h3>
<p>The derived net and ${firstRung.length - 1} net${firstRung.length === 2 ? '' : 's'} drawn from its latency band (up to ${fmt.number(100 * band.config.band, 0)}% faster by the table, never slower), each trained alone for ${band.config.epochs} epoch${band.config.epochs === 1 ? '' : 's'}${
    halved ? `, then successive halving (eta ${band.config.halving?.eta}, up to ${band.config.halving?.maxEpochs} epochs): the best of each rung trained again for longer` : ''
  }; the best validation accuracy${halved ? ' of the last rung' : ''}, trial ${band.pick}${band.pick === 0 ? ' (the derived net)' : ''}, is the search's result.</p>${band.budgets ? html`<p>${budgetSentences(band.budgets).join('. ')}.</p>` : ''}
${band.random ? html`<p>${randomBaselineSentence(band.random, band.referenceMs)}</p>` : ''}
<div class="scroll">${table(columns, band.trials, (t) => (t.trial === band.pick ? 'chosen' : undefined))}</div>`;
}

/** The derived net's table latency against random nets of the same space: what the search bought. */
function randomBaselineSentence(r: NonNullable<BandTrialsSummary['random']>, referenceMs: number): string {
  return (
    `Against chance: ${r.draws} nets drawn uniformly from the space have a table latency of ${fmt.ms(r.medianMs)} ms at the median ` +
    `(10th-90th percentile ${fmt.ms(r.p10Ms)}-${fmt.ms(r.p90Ms)} ms); the derived net, at ${fmt.ms(referenceMs)} ms, is faster than ${fmt.number(100 * r.referenceFasterThan, 0)}% of them.`
  );
}

type PredictionCheck = NonNullable<LatencyCalibration['check']>['plain'];

/** `+ 0.8 × table sum`, `− 0.12 ms per op`: one term of the fitted predictor, its sign written as the operator. */
function predictorTerm(coefficient: number, what: string): string {
  return `${coefficient < 0 ? '−' : '+'} ${fmt.rate(Math.abs(coefficient))} ${what}`;
}

/**
 * The latency model check of a one-shot search on a timed target: how well the table's sum, and
 * the predictor fitted on whole-net timings, rank and price nets of the space. The predictor's
 * numbers are held out (each net predicted by a fit without it), so its own fit does not flatter it.
 */
function latencyModelSection(c: LatencyCalibration): Section {
  const targetId = c.targetId ?? c.target;
  const n = c.nets.length;
  const unfinished = n < c.netsWanted ? ` (of ${c.netsWanted} wanted: the calibration is unfinished)` : '';
  const intro = html`<p>On target ${targetId} (${c.target}), ${n} net${n === 1 ? '' : 's'} drawn from the search space ${n === 1 ? 'was' : 'were'} timed whole${unfinished} and compared with two predictions: the plain sum of the latency table's op latencies, and the calibrated predictor fitted on these timings, each net priced by a fit without it (held out).</p>`;
  const rows: { name: string; use: 'plain' | 'predictor'; check: PredictionCheck }[] = c.check
    ? [
        { name: 'table sum', use: 'plain', check: c.check.plain },
        { name: 'calibrated predictor, held out', use: 'predictor', check: c.check.predictor },
      ]
    : [];
  const columns: Column<(typeof rows)[number]>[] = [
    { header: 'prediction', cell: (r) => r.name },
    { header: 'Spearman', cell: (r) => fmt.number(r.check.spearman, 3), numeric: true },
    { header: 'within ±10%', cell: (r) => fmt.percent(r.check.within10, 0), numeric: true },
    { header: 'median error', cell: (r) => fmt.percent(r.check.medianError), numeric: true },
    { header: 'bias', cell: (r) => fmt.percent(r.check.meanBias, 1, true), numeric: true },
  ];
  const p = c.predictor;
  const fitted = p
    ? html`<p>Fitted on all ${n} nets: measured ≈ ${fmt.ms(p.intercept)} ms ${predictorTerm(p.perTableMs, '× table sum')} ${predictorTerm(p.perOp, 'ms per op')} ${predictorTerm(p.perMmac, 'ms per MMAC')}.</p>`
    : html`<p class="omitted">No predictor fitted yet: the file holds the nets timed so far.</p>`;
  const used =
    c.use && c.check
      ? html`<p>The search priced nets with the ${c.use === 'predictor' ? 'calibrated predictor' : 'plain table sum'}: the predictor's held-out median error, ${fmt.percent(c.check.predictor.medianError)}, is ${
          c.use === 'predictor' ? 'below' : 'not below'
        } the table sum's, ${fmt.percent(c.check.plain.medianError)}.</p>`
      : '';
  return {
    body: html`${intro}
${rows.length ? table(columns, rows, (r) => (r.use === c.use ? 'chosen' : undefined)) : ''}
${fitted}${used}
${chartBox('chart-latency-model')}`,
    charts: [latencyCheckChart('chart-latency-model', targetId, c.nets)],
  };
}

function paretoSection(evaluation: EvaluationSummary, search: RunArtifacts['search'], pipeline: Pipeline | undefined): Section {
  const fronts = frontsByTarget(evaluation);
  const charts: ChartSpec[] = [];
  const parts: Html[] = [];
  evaluation.targets.forEach((target, i) => {
    const id = `chart-pareto-${i}`;
    const trials = search?.mode === 'multi-trial' && search.targetId === target.id ? search.trials : undefined;
    const front = fronts.get(target.id) ?? [];
    charts.push(paretoChart(id, { targetId: target.id, models: evaluation.models, front, trials, unit: latencyUnit(target, pipeline) }));
    parts.push(html`<h3>${target.id} <span class="muted">(${target.plugin}${isProxyTarget(target.plugin) ? ': a multiply-add count, not a timing' : ''})</span></h3>
${chartBox(id)}
<p>Pareto front, fastest first: ${front.map((m) => evaluation.models[m].label).join(' → ') || 'none (no model was measured here)'}.${trials ? ' Search trials show validation accuracy; models show test accuracy.' : ''}</p>`);
  });
  const onFront = (m: EvaluatedModel) => {
    const i = evaluation.models.indexOf(m);
    return evaluation.targets.filter((t) => fronts.get(t.id)?.includes(i)).map((t) => t.id);
  };
  const warnings = modelWarnings(evaluation);
  const warningOf = (m: EvaluatedModel) => warnings[evaluation.models.indexOf(m)];
  const accuracyCell = (m: EvaluatedModel) => {
    const w = warningOf(m);
    return w ? html`${fmt.accuracy(m.testAccuracy)} <span class="warning" title="${w}">⚠</span>` : fmt.accuracy(m.testAccuracy);
  };
  const warningNotes = evaluation.models.flatMap((m, i) => (warnings[i] ? [html`<p class="warning">⚠ ${m.label}: ${warnings[i]}.</p>`] : []));
  const columns: Column<EvaluatedModel>[] = [
    { header: 'model', cell: (m) => m.label },
    { header: 'role', cell: (m) => m.role },
    { header: 'params', cell: (m) => fmt.millions(m.params), numeric: true },
    { header: 'MACs', cell: (m) => fmt.millions(m.macs), numeric: true },
    { header: 'test accuracy', cell: accuracyCell, numeric: true },
    ...evaluation.targets.map(
      (t): Column<EvaluatedModel> => ({
        header: `${t.id} median / p90 (${latencyUnit(t, pipeline)})`,
        cell: (m) => (m.latency[t.id] ? `${fmt.ms(m.latency[t.id].medianMs)} / ${fmt.ms(m.latency[t.id].p90Ms)}` : '–'),
        numeric: true,
      }),
    ),
    { header: 'on the front of', cell: (m) => onFront(m).join(', ') || '–' },
  ];
  const perClass =
    evaluation.classNames.length > 0
      ? table<number>(
          [
            { header: 'class', cell: (c) => evaluation.classNames[c] },
            ...evaluation.models.map((m): Column<number> => ({ header: m.label, cell: (c) => fmt.accuracy(m.perClassAccuracy[c]), numeric: true })),
          ],
          evaluation.classNames.map((_, c) => c),
        )
      : undefined;
  return {
    body: html`<p>Test accuracy on ${evaluation.datasetName} against median latency, per hardware target; reference models are the labelled triangles.</p>
${parts}
<h3>Models</h3>
${table(columns, evaluation.models, (m) => [m.role !== 'reference' && onFront(m).length ? 'front' : undefined, warningOf(m) ? 'warn' : undefined].filter(Boolean).join(' ') || undefined)}
${warningNotes}
${perClass ? html`<h3>Per-class test accuracy</h3><div class="scroll">${perClass}</div>` : ''}`,
    charts,
  };
}

function scalingSection(t: ScalingTable): Section {
  const chosen = chosenIndex(t.candidates, t.chosen);
  const c = chosen === undefined ? undefined : t.candidates[chosen];
  const limits = t.limits && Object.keys(t.limits).length ? `; limits ${JSON.stringify(t.limits)}` : '';
  const columns: Column<ScalingTablePoint>[] = [
    { header: 'alpha (depth)', cell: (p) => p.alpha, numeric: true },
    { header: 'beta (width)', cell: (p) => p.beta, numeric: true },
    { header: 'gamma (resolution)', cell: (p) => p.gamma, numeric: true },
    { header: 'cost', cell: (p) => fmt.number(p.cost, 3), numeric: true },
    { header: 'resolution', cell: (p) => p.resolution, numeric: true },
    { header: 'MACs', cell: (p) => fmt.millions(p.macs), numeric: true },
    { header: 'params', cell: (p) => fmt.millions(p.params), numeric: true },
    { header: 'latency (ms)', cell: (p) => fmt.ms(p.latencyMs), numeric: true },
    { header: 'validation accuracy', cell: (p) => fmt.accuracy(p.validationAccuracy), numeric: true },
    { header: 'score', cell: (p) => fmt.accuracy(p.score), numeric: true },
    { header: '', cell: (p) => (p === c ? 'chosen' : p.eligible ? '' : 'over a limit') },
  ];
  return {
    body: html`<p>${t.candidates.length} grid points at phi = 1, objective ${t.objective}${t.target ? ` (latency on ${t.target})` : ''}${limits}. ${
      c ? `Chosen: alpha ${c.alpha}, beta ${c.beta}, gamma ${c.gamma} (${fmt.millions(c.macs)} MACs, validation accuracy ${fmt.accuracy(c.validationAccuracy)}).` : 'No point was eligible.'
    }</p>
${chartBox('chart-scaling')}
${table(columns, t.candidates, (p) => (p === c ? 'chosen' : p.eligible ? undefined : 'ineligible'))}`,
    charts: [scalingChart('chart-scaling', t, chosen)],
  };
}

function elasticSection(logs: RunArtifacts['elastic']): Section {
  const charts: ChartSpec[] = [];
  const parts = logs.map((log, i) => {
    const id = `chart-elastic-${i}`;
    charts.push(elasticChart(id, log.model, log.steps));
    const d = elasticDigest(log);
    return html`<h3>${log.model}</h3>
<p>Steps ${d.firstStep}–${d.lastStep} over ${d.epochs} epoch${d.epochs === 1 ? '' : 's'}; ${d.workersMin === d.workersMax ? d.workersMin : `${d.workersMin}–${d.workersMax}`} workers per step, ${d.workersSeen} distinct worker process${
      d.workersSeen === 1 ? '' : 'es'
    }, ${d.drops} drop${d.drops === 1 ? '' : 's'}; final learning rate ${fmt.rate(d.finalLearningRate)}, final loss ${fmt.number(d.finalLoss)}.</p>
${chartBox(id)}`;
  });
  return {
    body: html`<p>Membership, learning rate and loss per step of each elastic training (from its step log).</p>${parts}`,
    charts,
  };
}

const TITLES: Record<SectionId, string> = {
  search: 'Search trajectory',
  pareto: 'Accuracy versus latency',
  scaling: 'Compound scaling',
  elastic: 'Elastic training',
};

const LATENCY_MODEL_TITLE = 'Latency model: table against measured';

export function buildReport(input: ReportInput, chartLibrary: string): BuiltReport {
  const summary = summarize(input);
  const a = input.artifacts;
  const sections: Record<SectionId, Section | undefined> = {
    search: a.search ? searchSection(a.search, a.pipeline) : undefined,
    pareto: a.evaluation ? paretoSection(a.evaluation, a.search, a.pipeline) : undefined,
    scaling: a.scaling ? scalingSection(a.scaling) : undefined,
    elastic: summary.elastic ? elasticSection(a.elastic.filter((l) => l.steps.length > 0)) : undefined,
  };
  // Only a one-shot search on a timed target has one, so its absence is no omission worth a note.
  const latencyModel = a.search?.mode === 'one-shot' && a.search.latencyCalibration ? latencyModelSection(a.search.latencyCalibration) : undefined;
  const charts: ChartSpec[] = [];
  const shown = (id: string, title: string, section: Section) => {
    charts.push(...section.charts);
    return html`<section id="${id}"><h2>${title}</h2>${section.body}</section>`;
  };
  const bodies = (Object.keys(TITLES) as SectionId[]).flatMap((id) => {
    const section = sections[id];
    if (!section) {
      const reason = summary.omitted.find((o) => o.section === id)?.reason ?? '';
      return [html`<section id="${id}"><h2>${TITLES[id]}</h2><p class="omitted">${reason}</p></section>`];
    }
    const body = shown(id, TITLES[id], section);
    // Right after the search it priced.
    return id === 'search' && latencyModel ? [body, shown('latency-model', LATENCY_MODEL_TITLE, latencyModel)] : [body];
  });
  const body = html`${header(input, summary)}${bodies}`;
  const title = `nas report: ${a.runId}${summary.pipelineName ? ` (${summary.pipelineName})` : ''}`;
  return { html: renderPage({ title, body, charts, chartLibrary }), summary };
}
